"""CoT SFT sets: records of (prompt, reasoning, solution), from a task, a JSONL/HF import or a teacher.

A set is a JSONL file, one `SFTExample` per line. `nfbench data` (harness/cli_data.py) writes them;
`nfbench train --data FILE.jsonl` and `--data <task>` both end up as a list of SFTExample.
Torch-free: the teacher builder (harness/distill.py) imports the model code only when it runs.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from nfbench.harness import jsonl
from nfbench.harness.errors import UserError

FIELDS = ("prompt", "reasoning", "solution")


@dataclass
class SFTExample:
    task_id: str
    prompt: str  # the problem as stated (not yet formatted for a model)
    reasoning: str  # the chain of thought ("" for none)
    solution: str  # the program (for compact tasks: the answer text exactly as trained)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def task_examples(task: Any, split: str = "train", require_reasoning: bool = True) -> list[SFTExample]:
    """A task's own ground-truth CoT set (synth: its compact prompt/reasoning/answer format); with
    require_reasoning=False also a task without chains (its reference programs, reasoning "")."""
    if split not in task.splits():
        raise UserError(f"task '{task.name}' has no '{split}' split to train on",
                        f"its splits: {', '.join(task.splits())}; or build a set with `nfbench data`")
    out = []
    from nfbench.tasks.training import training_problems  # refuses evaluation splits and overlap

    for p in training_problems(task, split):
        compact = task.format_example(p)  # the task's compact format, where it has one (tasks/base.py)
        prompt, reasoning, answer = compact or (p.prompt, p.reasoning or "", p.canonical_solution)
        out.append(SFTExample(p.task_id, prompt, reasoning, answer, {"format": "compact" if compact else "problem"}))
    if require_reasoning and not any(e.reasoning for e in out):
        raise UserError(f"task '{task.name}' has no ground-truth reasoning to train CoT on",
                        "build a set: nfbench data distill (teacher) or nfbench data import")
    return out


def write_sft(path: str | Path, examples: Iterable[SFTExample]) -> int:
    return jsonl.write(Path(path), (e.to_dict() for e in examples))


def read_sft(path: str | Path) -> list[SFTExample]:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"SFT data file not found: {p}", "build one with `nfbench data ...` or pass a task name")
    out = []
    for n, d in enumerate(jsonl.read_input(p), 1):
        try:
            out.append(SFTExample(str(d["task_id"]), d["prompt"], d.get("reasoning") or "", d["solution"],
                                  d.get("meta") or {}))
        except (KeyError, TypeError) as e:
            raise UserError(f"{p}: record {n} is not an SFT record ({type(e).__name__}: {e})",
                            "each line needs task_id, prompt, reasoning, solution (see `nfbench data`)") from None
    return out


# --- import with a field mapping ---------------------------------------------------------------
RESPONSE = "response"  # one source field holding reasoning then the program in a fenced block


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    """['prompt=question', 'reasoning=cot', 'solution=code'] -> {our field: source field}. `response=F`
    maps one field holding a whole answer (reasoning, then the program in a ```python block)."""
    mapping = {f: f for f in FIELDS}
    for pair in pairs:
        ours, sep, theirs = pair.partition("=")
        if not sep or ours not in (*FIELDS, "task_id", RESPONSE):
            raise UserError(f"bad field mapping '{pair}'",
                            f"write OURS=THEIRS with OURS one of task_id, {', '.join(FIELDS)}, {RESPONSE}")
        mapping[ours] = theirs
    if RESPONSE in mapping:  # reasoning and solution both come from it
        mapping.pop("reasoning"), mapping.pop("solution")
    return mapping


def split_response(text: str) -> tuple[str, str]:
    """(reasoning, program) of a whole answer: the last fenced Python block is the program, the text
    before it (without <think> tags) the reasoning; ("", "") when it has no such block."""
    from nfbench.tasks.prompting import FENCE_RE

    blocks = [m for m in FENCE_RE.finditer(text) if m.group(1).lower() in ("", "python", "py", "python3")]
    if not blocks:
        return "", ""
    last = blocks[-1]
    reasoning = re.sub(r"</?think>", "", text[:last.start()]).strip()
    return reasoning, last.group(2).strip() + "\n"


def _get(record: dict[str, Any], key: str) -> Any:
    """Dotted keys reach into nested records ('messages.1.content')."""
    node: Any = record
    for part in key.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def import_records(records: Iterable[dict[str, Any]], mapping: dict[str, str], source: str) -> list[SFTExample]:
    out = []
    for i, r in enumerate(records):
        try:
            values = {f: _get(r, mapping[f]) if f in mapping else "" for f in FIELDS}
            if RESPONSE in mapping:
                values["reasoning"], values["solution"] = split_response(str(_get(r, mapping[RESPONSE])))
        except (KeyError, IndexError, ValueError) as e:
            raise UserError(f"{source} record {i}: field {e} missing",
                            f"map fields with --map, e.g. --map prompt=question (record keys: {', '.join(r)})") from None
        if not values["solution"]:
            continue  # a response without a program block teaches nothing to answer with
        tid = str(_get(r, mapping["task_id"])) if "task_id" in mapping else f"{source}/{i}"
        out.append(SFTExample(tid, str(values["prompt"]), str(values["reasoning"] or ""), str(values["solution"]),
                              {"source": source}))
    return out


def load_records(source: str, split: str = "train", limit: int | None = None) -> tuple[list[dict[str, Any]], str]:
    """Records from a local JSONL(.gz) file, or a HF dataset (`hf:name[:config]`, needs network or cache);
    with `limit`, the first records only (a HF dataset is streamed: no full download)."""
    from itertools import islice

    if source.startswith("hf:"):
        name, _, config = source[3:].partition(":")
        try:
            import datasets

            ds = datasets.load_dataset(name, config or None, split=split, streaming=limit is not None)
            return [dict(r) for r in islice(ds, limit)], name
        except Exception as e:  # offline, unknown name, bad split: all one user-level failure
            raise UserError(f"cannot load HF dataset '{name}' ({type(e).__name__})",
                            "check the name/split, or export it to JSONL and import the file") from None
    p = Path(source)
    if not p.is_file():
        raise UserError(f"file not found: {p}", "pass a JSONL file or hf:<dataset name>")
    return jsonl.read_input(p)[:limit], p.stem


# --- decontamination ------------------------------------------------------------------------------
def _ngrams(text: str, n: int) -> set[str]:
    words = re.findall(r"\w+", text.lower())
    return {" ".join(words[i:i + n]) for i in range(max(0, len(words) - n + 1))}


def decontaminate(examples: list[SFTExample], eval_texts: Iterable[str], n: int = 13) -> tuple[list[SFTExample], list[str]]:
    """Drop examples sharing any word n-gram (default 13, as in GPT-3/evalplus practice) with an
    evaluation problem's prompt or solution. Returns (kept, dropped task_ids)."""
    banned: set[str] = set()
    for t in eval_texts:
        banned |= _ngrams(t, n)
    kept, dropped = [], []
    for e in examples:
        grams = _ngrams(e.prompt, n) | _ngrams(e.solution, n)
        (dropped.append(e.task_id) if grams & banned else kept.append(e))
    return kept, dropped
