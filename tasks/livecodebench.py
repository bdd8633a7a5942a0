"""LiveCodeBench code generation (Jain et al. 2024): dated contest problems, judged on recorded outputs.

Data: the release files of the HF dataset livecodebench/code_generation_lite, in a data directory
(`--data-dir` or $NFBENCH_DATA_DIR) or fetched from the hub into ~/.cache/nfbench/data on first use
(only by a run, never at import or by `nfbench ls`: the files are gigabytes):

    <DIR>/livecodebench/test.jsonl      release_v1: May 2023 - Mar 2024, 400 problems
    <DIR>/livecodebench/test2.jsonl     + release_v2 to May 2024 (511 in all)
    <DIR>/livecodebench/test3.jsonl     + release_v3 to Jul 2024 (612)
    <DIR>/livecodebench/test4.jsonl     + release_v4 to Sep 2024 (713)
    <DIR>/livecodebench/test5.jsonl     + release_v5 to Jan 2025 (880)
    <DIR>/livecodebench/test6.jsonl     + release_v6 to Apr 2025 (1055)

One row per problem, as the release stores it (lcb_runner/benchmarks/code_generation.py):
question_title, question_content, platform (leetcode | atcoder | codeforces), question_id, contest_id,
contest_date (ISO), starter_code, difficulty (easy | medium | hard), public_test_cases (JSON list of
{input, output, testtype}), private_test_cases (the same JSON, or base64(zlib(pickle(JSON text))) for
big sets) and metadata (JSON; `func_name` for LeetCode's functional problems).

Options (`--set task_options.<name>=<value>`), with LiveCodeBench's own meanings:
    release   release_v1 .. release_v6, release_latest: cumulative (`--release_version`); v1 .. v6:
              only the problems that release added; vA_vB: releases A to B. Default release_v6
              (pinned: release_latest grows).
    since, until   YYYY-MM-DD: keep problems with since <= contest_date <= until (`--start_date`,
              `--end_date`; `until` is midnight at the start of that day, as there): the
              contamination window, e.g. since=2025-02-01 for problems after a model's cut-off.
    timeout   seconds per test (`--timeout`, default 6).
Verdicts: no reference solution exists; a sample passes when its outputs match the recorded ones on
every public and private test (sandbox/container/io_rules.py has the rules).
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import io
import json
import pickle
import re
import zlib
from pathlib import Path
from typing import Any

from nfbench.harness.errors import UserError
from nfbench.harness.registry import register_task
from nfbench.harness.types import Problem, TestSpec
from nfbench.tasks.base import Task
from nfbench.tasks.data import CACHE_DIR, ENV, _reachable, data_dir, sha256

HF_REPO = "livecodebench/code_generation_lite"
FILES = ["test.jsonl", "test2.jsonl", "test3.jsonl", "test4.jsonl", "test5.jsonl", "test6.jsonl"]
DEFAULT_RELEASE = "release_v6"
TIME_LIMIT = 6.0  # lcb_runner/runner/parser.py --timeout (sandbox/container/io_rules.py TIME_LIMIT)
OPTIONS = ("release", "since", "until", "timeout")
PLATFORMS = ("leetcode", "atcoder", "codeforces")
DIFFICULTIES = ("easy", "medium", "hard")


def _release_files() -> dict[str, list[str]]:
    """LiveCodeBench's version tags (ALLOWED_FILES of the dataset's loading script)."""
    tags = {f"release_v{n}": FILES[:n] for n in range(1, len(FILES) + 1)}
    tags["release_latest"] = list(FILES)
    for a in range(1, len(FILES) + 1):
        tags[f"v{a}"] = [FILES[a - 1]]
        for b in range(a + 1, len(FILES) + 1):
            tags[f"v{a}_v{b}"] = FILES[a - 1:b]
    return tags


RELEASES = _release_files()
FIX = (f"put the files of HF dataset {HF_REPO} ({', '.join(FILES)}) in <DIR>/livecodebench/ "
       f"and set {ENV}=<DIR> or pass --data-dir")

# LiveCodeBench's generic prompt (lcb_runner/prompts/code_generation.py, PromptConstants and
# get_generic_question_template_answer): the user message its chat models get
SYSTEM_PROMPT = ("You are an expert Python programmer. You will be given a question (problem specification) "
                 "and will generate a correct Python program that matches the specification and passes all tests.")
WITH_STARTER = ("You will use the following starter code to write the solution to the problem and enclose "
                "your code within delimiters.")
WITHOUT_STARTER = ("Read the inputs from stdin solve the problem and write the answer to stdout (do not directly "
                   "test on the sample inputs). Enclose your code within delimiters as follows. Ensure that when "
                   "the python program runs, it reads the inputs, runs the algorithm and writes output to STDOUT.")


def lcb_prompt(question: str, starter_code: str) -> str:
    """The question and its starter code as LiveCodeBench presents them to a chat model."""
    if starter_code:
        fmt = f"### Format: {WITH_STARTER}\n```python\n{starter_code}\n```\n\n"
    else:
        fmt = f"### Format: {WITHOUT_STARTER}\n```python\n# YOUR CODE HERE\n```\n\n"
    return f"### Question:\n{question}\n\n{fmt}### Answer: (use the provided format with backticks)\n\n"


def extract_code(raw_output: str) -> str:
    """The program in a model's answer, as LiveCodeBench extracts it (lcb_runner/utils/
    extraction_utils.py extract_code): the lines between the last two lines that contain a ```
    fence (its rule for chat models); without two fences, the whole answer stripped (its rule for
    base models, where the chat rule would give ""). No sanitizer: evalplus's drops the top-level
    statements a stdin program consists of."""
    lines = raw_output.split("\n")
    fences = [i for i, line in enumerate(lines) if "```" in line]
    return "\n".join(lines[fences[-2] + 1:fences[-1]]) if len(fences) >= 2 else raw_output.strip()


# --- the release's compressed tests ---------------------------------------------------------------
class _TextOnly(pickle.Unpickler):
    """The compressed tests are a pickled str: an unpickler that can build strings and the other
    opcode-level values, and refuses every global (no class, no function: nothing can be called)."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def decode_tests(field: str) -> list[dict]:
    """public_test_cases / private_test_cases: JSON, or base64(zlib(pickle(JSON text))) as the release
    compresses big sets (CodeGenerationProblem.__post_init__). Raises ValueError when it is neither."""
    try:
        tests = json.loads(field)
    except ValueError:
        try:
            text = _TextOnly(io.BytesIO(zlib.decompress(base64.b64decode(field.encode("ascii"), validate=True)))).load()
        except (binascii.Error, zlib.error, pickle.UnpicklingError, EOFError, UnicodeError, ValueError) as e:
            raise ValueError(f"neither JSON nor base64(zlib(pickle)) ({type(e).__name__})") from None
        if not isinstance(text, (str, bytes)):
            raise ValueError(f"the pickle holds a {type(text).__name__}, not the JSON text")
        tests = json.loads(text)
    if not isinstance(tests, list) or not all(
            isinstance(t, dict) and isinstance(t.get("input"), str) and isinstance(t.get("output"), str)
            and t.get("testtype") in ("stdin", "functional") for t in tests):
        raise ValueError("not a list of {input, output, testtype} tests")
    return [{"input": t["input"], "output": t["output"], "testtype": t["testtype"]} for t in tests]


# --- options --------------------------------------------------------------------------------------
def _day(name: str, value: Any) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):  # YAML (and so --set) reads 2025-02-01 as a date
        return dt.datetime(value.year, value.month, value.day)
    try:
        return dt.datetime.strptime(str(value), "%Y-%m-%d")
    except ValueError:
        raise UserError(f"livecodebench option {name}={value!r} is not a date",
                        f"write it as YYYY-MM-DD, e.g. --set task_options.{name}=2025-02-01") from None


def _options(options: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise UserError(f"unknown livecodebench option(s): {', '.join(unknown)}",
                        f"livecodebench takes {', '.join(OPTIONS)} (see `nfbench ls tasks`)")
    release = str(options.get("release") or DEFAULT_RELEASE)
    if release not in RELEASES:
        raise UserError(f"unknown livecodebench release {release!r}",
                        "use release_v1 .. release_v6 or release_latest (cumulative), v1 .. v6 (what one "
                        "release added) or vA_vB, e.g. --set task_options.release=release_v6")
    since, until = _day("since", options.get("since")), _day("until", options.get("until"))
    if since and until and since > until:
        raise UserError(f"livecodebench window is empty: since={since:%Y-%m-%d} is after until={until:%Y-%m-%d}",
                        "swap them, or drop one")
    timeout = options.get("timeout", TIME_LIMIT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 600:
        raise UserError(f"livecodebench option timeout={timeout!r} is not a number of seconds in (0, 600]",
                        "e.g. --set task_options.timeout=6 (LiveCodeBench's default)")
    return {"release": release, "since": since, "until": until, "timeout": float(timeout)}


# a row's date without parsing the whole line (its private tests can be megabytes); inside a JSON
# string a quote is always escaped, so this can only match the row's own field
_DATE = re.compile(r'(?<!\\)"contest_date":\s*"([^"\\]*)"')


@register_task("livecodebench")
class LiveCodeBenchTask(Task):
    """LiveCodeBench: dated LeetCode/AtCoder/Codeforces problems, stdin and functional tests (release, since, until)."""

    source = f"HF {HF_REPO} (Jain et al. 2024), release files test.jsonl .. test6.jsonl"
    licence = "CC-BY-4.0 (dataset card); problem statements from LeetCode, AtCoder, Codeforces"
    has_plus = False
    default_split = "test"

    def __init__(self, data_dir: Path | None = None, **options: Any):
        super().__init__(data_dir, **_options(options))
        self._problems: list[Problem] | None = None

    # --- where the files are ---------------------------------------------------------------------
    @property
    def files(self) -> list[str]:
        return RELEASES[self.options["release"]]

    def _root(self, download: bool) -> Path:
        chosen = data_dir(self.data_dir)
        root = (chosen or CACHE_DIR) / "livecodebench"
        missing = [f for f in self.files if not (root / f).is_file()]
        if not missing:
            return root
        what = f"livecodebench/{', '.join(missing)} of {self.options['release']}"
        if chosen is not None:
            raise UserError(f"{what} not found in data directory {chosen}", FIX)
        if not download:
            raise UserError(f"{what} not downloaded yet", f"a run downloads it from the HF hub (gigabytes); or {FIX}")
        try:
            _reachable("huggingface.co")
            from huggingface_hub import hf_hub_download

            for name in missing:
                hf_hub_download(HF_REPO, name, repo_type="dataset", local_dir=root)
        except Exception as e:  # no network, hub down or offline mode, missing package, ...
            raise UserError(f"{what} could not be downloaded ({type(e).__name__})", FIX) from None
        return root

    # --- reading ---------------------------------------------------------------------------------
    def _selected(self, root: Path):
        """(file, line number, line) of each row in the release and the date window, in file order."""
        since, until = self.options["since"], self.options["until"]
        for name in self.files:
            with (root / name).open(encoding="utf-8") as f:
                for number, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    m = _DATE.search(line)
                    date = m.group(1) if m else json.loads(line).get("contest_date", "")
                    try:
                        when = dt.datetime.fromisoformat(date)
                    except (TypeError, ValueError):
                        raise UserError(f"{root / name}:{number}: contest_date {date!r} is not an ISO date",
                                        f"the file is not a LiveCodeBench release file; {FIX}") from None
                    if (since is None or since <= when) and (until is None or when <= until):
                        yield name, number, line

    def _problem(self, row: dict[str, Any]) -> Problem:
        metadata = json.loads(row["metadata"]) if isinstance(row["metadata"], str) else row["metadata"]
        func_name = (metadata or {}).get("func_name") or ""
        public, private = decode_tests(row["public_test_cases"]), decode_tests(row["private_test_cases"])
        if row["platform"] not in PLATFORMS or row["difficulty"] not in DIFFICULTIES:
            raise ValueError(f"platform {row['platform']!r} / difficulty {row['difficulty']!r}")
        return Problem(
            task_id=f"LiveCodeBench/{row['question_id']}",
            prompt=lcb_prompt(row["question_content"], row["starter_code"]),
            # functional tests call Solution().<func_name>; stdin tests call nothing: they run the program
            entry_point=func_name,
            canonical_solution="",  # the release has none: verdicts compare with the recorded outputs
            tests=TestSpec(kind="io", io_tests=public + private, func_name=func_name,
                           time_limit=self.options["timeout"], dataset="livecodebench"),
            meta={"question_id": row["question_id"], "question_title": row["question_title"],
                  "question_content": row["question_content"], "starter_code": row["starter_code"],
                  "platform": row["platform"], "contest_id": row["contest_id"],
                  "contest_date": row["contest_date"], "difficulty": row["difficulty"],
                  "n_public": len(public), "system_prompt": SYSTEM_PROMPT},
        )

    def _load(self) -> list[Problem]:
        if self._problems is None:
            root, problems = self._root(download=True), []
            for name, number, line in self._selected(root):
                try:
                    problems.append(self._problem(json.loads(line)))
                except (ValueError, KeyError, TypeError, AttributeError) as e:
                    raise UserError(f"{root / name}:{number} is not a LiveCodeBench row ({type(e).__name__}: {e})",
                                    f"restore the file from {HF_REPO}; {FIX}") from None
            self._problems = self._nonempty(problems)
        return self._problems

    def _nonempty(self, selected):
        """`selected` (problems, or their count), unless a date window left nothing of the release."""
        if selected or not (self.options["since"] or self.options["until"]):
            return selected
        lo, hi = (f"{self.options[k]:%Y-%m-%d}" if self.options[k] else "..." for k in ("since", "until"))
        raise UserError(f"no livecodebench problem of {self.options['release']} is dated {lo} to {hi}",
                        "widen the window (since/until) or pick a later release")

    # --- Task ------------------------------------------------------------------------------------
    def splits(self) -> dict[str, int]:
        if self._problems is not None:
            return {"test": len(self._problems)}
        return {"test": self._nonempty(sum(1 for _ in self._selected(self._root(download=True))))}

    def local_splits(self) -> dict[str, int]:
        """splits() from files already here, never downloading (for `nfbench ls tasks`)."""
        return {"test": self._nonempty(sum(1 for _ in self._selected(self._root(download=False))))}

    def problems(self, split: str | None = None) -> list[Problem]:
        self.resolve_split(split)
        return list(self._load())

    def dataset_info(self) -> dict[str, Any]:
        root = self._root(download=True)
        files = {name: sha256(root / name) for name in self.files}
        combined = hashlib.sha256("".join(f"{n}:{h}\n" for n, h in files.items()).encode()).hexdigest()
        o = self.options
        window = "".join(f" {k}={o[k]:%Y-%m-%d}" for k in ("since", "until") if o[k])
        return {"name": "livecodebench", "version": f"{o['release']}{window}", "sha256": combined,
                "path": str(root), "files": files, "timeout": o["timeout"]}
