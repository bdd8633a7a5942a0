"""The program inside a model's answer: the one path from answer text to what the sandbox runs.

`extract_solution` turns an answer into a self-contained program (methods/prompt_format.py calls it
for every method, after the task's compact-format hook); callers keep the raw text next to it.
"""
from __future__ import annotations

import re

from nfbench.harness.types import Problem

IMPORT_RE = re.compile(r"^(?:from\s+\S+\s+)?import\s+[^\n]+$", re.MULTILINE)
FENCE_RE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


def extract_solution(problem: Problem, raw_output: str) -> str:
    """The self-contained program in `raw_output`.

    Fenced blocks win (the one defining the entry point, else the last); code that does not define
    the entry point is a completion of the problem's code stub, so the stub is prepended.
    evalplus's sanitizer then keeps imports and what the entry point reaches, dropping tests/prints.
    """
    if problem.tests.kind == "io":  # LiveCodeBench: whole programs, extracted as LiveCodeBench does
        from nfbench.tasks.livecodebench import extract_code

        return extract_code(raw_output) + "\n"
    code = _fenced(raw_output, problem.entry_point)
    code = raw_output if code is None else code
    if _defines(problem.prompt, problem.entry_point) and not _defines(code, problem.entry_point, top_level=True):
        code = problem.prompt + code  # a body only (fenced or not) completes the stub
    code = _sanitize(code, problem.entry_point)
    # a rewritten function often drops the stub's imports (`from typing import List`): restore them
    missing = [ln for ln in IMPORT_RE.findall(problem.prompt) if ln not in code]
    return "\n".join([*missing, code]) + "\n"


def _fenced(text: str, entry_point: str) -> str | None:
    blocks = [(lang.lower(), body) for lang, body in FENCE_RE.findall(text)]
    blocks = [(lang, body) for lang, body in blocks if lang in ("", "python", "py", "python3")]
    if not blocks:
        return None
    defining = [body for _, body in blocks if _defines(body, entry_point)]
    return (defining or [body for _, body in blocks])[-1]


def _defines(code: str, name: str, top_level: bool = False) -> bool:
    pattern = rf"^def\s+{re.escape(name)}\s*\(" if top_level else rf"^\s*def\s+{re.escape(name)}\s*\("
    return bool(name) and re.search(pattern, code, re.MULTILINE) is not None


def _sanitize(code: str, entry_point: str) -> str:
    try:
        from evalplus.sanitize import sanitize
    except ImportError:  # evalplus is a dependency, but keep extraction usable without tree-sitter
        return code.strip()
    try:
        return sanitize(code, entry_point or None).strip() or code.strip()
    except Exception:  # the sanitizer's parser choking on odd text must not lose the sample
        return code.strip()
