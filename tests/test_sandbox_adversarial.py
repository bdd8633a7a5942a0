"""Wrong solutions written to forge a `pass` (tests/sandbox_attacks.py, every family of issue 21)
against the real Docker sandbox: none passes, each gets the status its attack calls for with a
detail saying why, and the correct solutions run between them (same problems, same workers) still
pass. `bench/bench_sandbox.py --suite attacks` runs evalplus 0.3.1 on the same samples."""
from __future__ import annotations

import pytest

from nfbench.harness.registry import get_task
from nfbench.sandbox.executor import Sandbox
from sandbox_attacks import ATTACKS, CUSTOM, SELF_CHECKED, attack_code

pytestmark = pytest.mark.docker

# what each family's verdicts must look like (beyond "not a pass")
EXPECTED_STATUS = {
    "lying_eq": {"fail"},
    "read_or_forge_state": {"fail", "error", "timeout"},
    "patch_checker": {"fail"},
    "disable_time_limit": {"timeout"},
    "hidden_state": {"pass", "fail"},  # base passes (100 calls are not reached there), plus must fail
    "attack_the_judge": {"fail"},
}


def _problems() -> dict[tuple[str, str], object]:
    wanted = {(a.task, a.task_id) for a in ATTACKS + [SELF_CHECKED]}
    out = {}
    for task in {t for t, _ in wanted} - {"custom"}:
        by_id = {p.task_id: p for p in get_task(task)().problems()}
        out.update({(task, i): by_id[i] for t, i in wanted if t == task})
    out.update({("custom", i): p for i, p in CUSTOM.items()})
    return out


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory):
    from nfbench.sandbox.image import build_image

    build_image()
    problems = _problems()
    jobs, expect = [], {}
    for n, attack in enumerate(ATTACKS + [SELF_CHECKED]):
        problem = problems[(attack.task, attack.task_id)]
        # the attack, then a correct solution of the same problem right after it, on the same workers
        jobs.append((problem, 2 * n, attack_code(attack, problem)))
        jobs.append((problem, 2 * n + 1, problem.canonical_solution))
        expect[(problem.task_id, 2 * n)] = attack
    for problem in CUSTOM.values():  # every parsed assert form, checked on a correct solution
        jobs.append((problem, 999, problem.canonical_solution))
    with Sandbox(workers=2) as sb:
        got = {(v.task_id, v.sample_idx): v for v in sb.execute(jobs)}
    assert len(got) == len(jobs)
    return got, expect, jobs


def _passes(v) -> bool:
    return v.base_status == "pass" and v.plus_status in ("pass", None)


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: f"{a.family}/{a.name}")
def test_attack_does_not_pass_and_says_why(verdicts, attack):
    got, expect, _ = verdicts
    (task_id, idx), = [k for k, a in expect.items() if a is attack]
    v = got[(task_id, idx)]
    assert not _passes(v), (attack.name, v)
    if attack.family != "hidden_state":  # wrong (or too slow) from the first test on
        assert v.base_status != "pass", (attack.name, v)
    assert not v.self_checked, v  # decided by the judge, not by the sample's process
    statuses = {v.base_status} | ({v.plus_status} if v.plus_status else set())
    assert statuses <= EXPECTED_STATUS[attack.family] | {"fail"}, (attack.name, v)
    assert v.detail, v
    if attack.family == "lying_eq" and attack.task != "custom":
        assert "where plain data is required" in v.detail, v  # the detail names the type returned
    if attack.family == "disable_time_limit":
        assert "killed at" in v.detail and "limit" in v.detail, v
    if attack.family == "hidden_state":
        assert v.plus_status == "fail" and v.plus_fail_test is not None and v.plus_fail_test >= 100 - 4, v


def test_correct_solutions_between_attacks_pass(verdicts):
    got, expect, jobs = verdicts
    controls = [(p.task_id, idx) for p, idx, _ in jobs if (p.task_id, idx) not in expect]
    assert len(controls) == len(ATTACKS) + 1 + len(CUSTOM)
    failed = {k: got[k] for k in controls if not _passes(got[k])}
    assert not failed, failed
    assert not any(got[k].self_checked for k in controls if not k[0].startswith("custom/helper"))


def test_unparseable_asserts_are_marked_self_checked(verdicts):
    """The one kind of verdict a sample can forge (its asserts could not be parsed), and it says so."""
    got, expect, _ = verdicts
    (key,) = [k for k, a in expect.items() if a is SELF_CHECKED]
    assert got[key].self_checked
    assert got[(key[0], key[1] + 1)].self_checked and _passes(got[(key[0], key[1] + 1)])
