"""How work is cut into jobs and how ground-truth results are put back together.

A check job is a batch of one problem's samples; the judge runs each sample's base phase and then
its plus phase, each in one candidate process that sees the phase's inputs in order, as evalplus's
do (a program with hidden state sees exactly what it would see under evalplus). Batches hold
~BATCH_SECONDS of the canonical solution's test time (at most MAX_BATCH samples), so that the
~3 ms a message takes through Docker is paid once per batch, and the slowest problems go first so
that every core stays busy to the end. Ground truth is computed by the trusted canonical solution,
so it may be cut anywhere: a ground-truth job stops after GT_BUDGET seconds and the rest of its
range is re-split across workers (Mbpp/599 needs ~half of MBPP+'s test time).
"""
from __future__ import annotations

from dataclasses import dataclass, field

PHASES = ("base", "plus")
BATCH_SECONDS = 1.0
MAX_BATCH = 16


def split(lo: int, hi: int, parts: int) -> list[tuple[int, int]]:
    """`parts` contiguous, non-empty ranges covering lo..hi-1 (fewer if there are fewer items)."""
    parts = max(1, min(parts, hi - lo))
    bounds = [lo + (hi - lo) * i // parts for i in range(parts + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def batches(samples: list, seconds_each: float, target: float = BATCH_SECONDS, most: int = MAX_BATCH) -> list[list]:
    """Consecutive batches of `samples`, each about `target` seconds when a sample needs `seconds_each`."""
    per = max(1, min(most, int(target / max(seconds_each, 1e-3))))
    return [samples[i:i + per] for i in range(0, len(samples), per)]


@dataclass
class GroundTruth:
    """Expected outputs of one problem, filled in by (possibly many) ground-truth jobs.

    Outputs stay opaque compressed pickles (`blobs`) that only workers open; the host uses the times.
    """

    sizes: dict[str, int]
    blobs: dict[str, list] = field(default_factory=dict)
    times: dict[str, list] = field(default_factory=dict)
    todo: dict[str, int] = field(default_factory=dict)  # tests still missing per phase

    def __post_init__(self) -> None:
        for p in PHASES:
            self.blobs[p] = []
            self.times[p] = [0.0] * self.sizes[p]
            self.todo[p] = self.sizes[p]

    def add(self, phase: str, lo: int, times: list[float], blob: bytes) -> int:
        """Store results for tests lo..lo+len(times)-1; returns the index reached."""
        hi = lo + len(times)
        if not times or hi > self.sizes[phase] or not all(isinstance(t, (int, float)) for t in times):
            raise ValueError("malformed ground truth")
        self.times[phase][lo:hi] = [float(t) for t in times]
        self.blobs[phase].append((lo, bytes(blob)))
        self.todo[phase] -= len(times)
        return hi

    def add_reply(self, phase: str, lo: int, hi: int, reply: dict) -> list[tuple[str, int, int]]:
        """Store a ground-truth job's reply for tests lo..hi-1 of `phase` (phase "all": both whole
        phases); returns the (phase, lo, hi) ranges it did not reach, to be asked for again."""
        spans = [(p, 0, self.sizes[p]) for p in PHASES] if phase == "all" else [(phase, lo, hi)]
        times, sizes, raw = reply["times"], reply["gt_sizes"], reply["gt_bytes"]
        if (not isinstance(times, dict) or not isinstance(sizes, list) or len(sizes) > len(spans)
                or not all(isinstance(n, int) and n >= 0 for n in sizes) or sum(sizes) != len(raw)):
            raise ValueError("malformed ground truth")
        missing, at = [], 0
        for i, (p, a, b) in enumerate(spans):
            reached = a
            if i < len(sizes) and times.get(p):
                reached = self.add(p, a, times[p], raw[at:at + sizes[i]])
            at += sizes[i] if i < len(sizes) else 0
            if reached < b:
                missing.append((p, reached, b))
        return missing

    def complete(self) -> bool:
        return not any(self.todo.values())

    def expected(self) -> dict:
        return {"blobs": self.blobs, **{f"{p}_time": self.times[p] for p in PHASES}}


def assert_limits(ref: dict | None, n_tests: int, fixed: float, factor: float) -> dict:
    """Per-assert time limits of one phase of an assert problem: max(fixed, factor x the reference's
    seconds), like evalplus's per-input limits; what the reference did not pass gets `fixed`.
    `ref` is {"load": seconds | None, "tests": [seconds of the asserts it passed, in order]}."""
    def scaled(t) -> float:
        ok = isinstance(t, (int, float)) and 0 <= t < float("inf")
        return max(fixed, factor * t) if ok else fixed

    ref = ref if isinstance(ref, dict) else {}
    times = ref.get("tests") if isinstance(ref.get("tests"), list) else []
    return {"load": scaled(ref.get("load")),
            "tests": [scaled(times[i]) if i < len(times) else fixed for i in range(n_tests)]}
