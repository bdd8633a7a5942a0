"""Judge TRUSTED programs on io tests in one plain process, for tests: candidate_io runs each program
(under evalplus's reliability_guard, as the sandbox's zygote applies it) and io_rules decides, with no
process split, no time limit and no Docker. Never for model output: that goes through the sandbox.

    python tests/lcb_local_judge.py < cases.json   # [{"io_tests", "func_name", "code", "max_output"?}]

prints one JSON line: [{"status": "pass" | "fail" | "error", "detail", "outputs"}, ...].
"""
from __future__ import annotations

import importlib.util
import io
import json
import os
import sys
from pathlib import Path

CONTAINER = Path(__file__).resolve().parent.parent / "sandbox" / "container"
sys.path.insert(0, str(CONTAINER))

import candidate_io  # noqa: E402  (from the image's folder, as the candidate imports it)
import io_rules  # noqa: E402


def _guard() -> None:
    spec = importlib.util.find_spec("evalplus")
    path = Path(spec.submodule_search_locations[0]) / "eval" / "utils.py"
    mod_spec = importlib.util.spec_from_file_location("evalplus_eval_utils", path)
    utils = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(utils)
    utils.reliability_guard(maximum_memory_bytes=4 << 30)


def judge(case: dict) -> dict:
    functional = bool(case["func_name"])
    outputs: list = []
    try:
        tests = io_rules.prepare_tests(case["io_tests"], case["func_name"])
        call = candidate_io.prepare({"kind": "io", "code": case["code"], "func_name": case["func_name"],
                                     "max_output": case.get("max_output") or candidate_io.MAX_OUTPUT})
    except BaseException as e:
        return {"status": "error", "detail": f"raised {type(e).__name__} before the first test", "outputs": outputs}
    for i, (args, expected) in enumerate(tests):
        try:
            out = call(*args)
        except BaseException as e:
            return {"status": "fail", "detail": f"test {i}: raised {type(e).__name__}", "outputs": outputs}
        outputs.append(out if isinstance(out, (str, int, float, bool, type(None))) else repr(out))
        why = io_rules.verdict(out, expected, functional)
        if why:
            return {"status": "fail", "detail": f"test {i}: {why}", "outputs": outputs}
    return {"status": "pass", "detail": "", "outputs": outputs}


def main() -> None:
    cases = json.load(sys.stdin)
    result_out = os.fdopen(os.dup(1), "w")
    sys.stdout = io.StringIO()  # what functional programs print is dropped, as in the sandbox
    _guard()
    results = [judge(c) for c in cases]
    result_out.write(json.dumps(results) + "\n")
    result_out.flush()


if __name__ == "__main__":
    main()
