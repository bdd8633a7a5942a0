"""How work is cut into jobs and how job results are put back together.

A job covers tests lo..hi-1 of one phase ("base" or "plus") of one problem. Almost every phase is
one job; a phase whose canonical solution needs more than CHUNK_SECONDS is cut into chunks that
run on different workers, so that one slow problem (Mbpp/599 needs ~half of MBPP+'s test time)
does not leave the other cores idle at the end. Ground truth is cut the same way, adaptively:
a ground-truth job stops after GT_BUDGET seconds and the rest of its range is re-split.
"""
from __future__ import annotations

from dataclasses import dataclass, field

PHASES = ("base", "plus")
CHUNK_SECONDS = 2.0


def split(lo: int, hi: int, parts: int) -> list[tuple[int, int]]:
    """`parts` contiguous, non-empty ranges covering lo..hi-1 (fewer if there are fewer items)."""
    parts = max(1, min(parts, hi - lo))
    bounds = [lo + (hi - lo) * i // parts for i in range(parts + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def chunks(times: list[float], limit: float = CHUNK_SECONDS) -> list[tuple[int, int]]:
    """Contiguous ranges of tests whose ground-truth seconds add up to at most ~limit each."""
    out, lo, acc = [], 0, 0.0
    for i, t in enumerate(times):
        if acc and acc + t > limit:
            out.append((lo, i))
            lo, acc = i, 0.0
        acc += t
    out.append((lo, len(times)))
    return out


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


@dataclass
class Pending:
    """One sample's verdict being assembled from its chunk results."""

    chunks: dict[str, int]  # number of chunks per phase
    budget: dict[str, float]  # evalplus's whole-phase time-out, checked against the chunks' sum
    results: dict[str, list] = field(default_factory=lambda: {p: [] for p in PHASES})

    def add(self, phase: str, lo: int, result: dict) -> bool:
        """Record one chunk's result; True when the sample is complete."""
        self.results[phase].append((lo, result))
        return all(len(self.results[p]) == n for p, n in self.chunks.items())

    def phase(self, phase: str) -> dict | None:
        """The phase's result as one evalplus process would have given it."""
        if phase not in self.chunks:
            return None
        parts = sorted(self.results[phase], key=lambda r: r[0])
        seconds = sum(r["seconds"] for _, r in parts)
        for lo, r in parts:  # evalplus stops at the first failing test
            if r["status"] != "pass":
                fail = None if r["fail_test"] is None else lo + r["fail_test"]
                return {**r, "fail_test": fail, "seconds": seconds}
        if len(parts) > 1 and seconds > self.budget[phase]:
            return {"status": "timeout", "fail_test": None, "seconds": seconds,
                    "detail": f"tests took {seconds:.1f}s in all, over the phase limit"}
        return {"status": "pass", "fail_test": None, "detail": "", "seconds": seconds}


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
