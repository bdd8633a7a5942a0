"""Ground truth in the judge: expected outputs and reference times of an evalplus problem, computed
by its canonical solution as evalplus's `trusted_exec` does, and the expected outputs the judge
compares with (unpacked on first use, or recomputed here when too big to ship).

Canonical solutions are trusted code, like the dataset: they run in the judge process itself (as
trusted_exec runs in evalplus's own process). Samples never do.

Standard library + numpy + the shipped evalplus files only: this file runs in the image.
"""
from __future__ import annotations

import gc
import marshal
import pickle
import time
import zlib
from copy import deepcopy

from evalplus.eval import is_floats
from evalplus.eval._special_oracle import MBPP_OUTPUT_NOT_NONE_TASKS

BIG_OUTPUT = 512 << 10  # expected outputs bigger than this (in version 4) are asked for in version 4


def ground_truth(prob: dict, phase: str, lo: int, hi: int, opts: dict) -> dict:
    """Outputs and times of tests lo..hi-1 of a phase, or with phase "all" of both phases in one job
    (most problems need milliseconds): evalplus's trusted_exec (a fresh exec of the solution per
    phase, deepcopy each input, time each call), stopping after `gt_budget` seconds so that the host
    can spread a slow problem over several workers.

    The deepcopy keeps the judge's inputs intact; a canonical solution that hangs is stopped by
    the host's watchdog (the container is replaced)."""
    spans = [(p, 0, len(prob[f"{p}_inputs"])) for p in ("base", "plus")] if phase == "all" else [(phase, lo, hi)]
    not_none = prob["dataset"] == "mbpp" and prob["entry_point"] in MBPP_OUTPUT_NOT_NONE_TASKS
    try:
        all_times, blobs, start = {}, [], time.time()
        for phase, lo, hi in spans:
            if time.time() - start > opts["gt_budget"]:
                break
            env: dict = {}
            exec(prob["canonical"], env)
            fn = env[prob["entry_point"]]
            outputs, times, big = [], [], {}
            for inp in prob[f"{phase}_inputs"][lo:hi]:
                inp = deepcopy(inp)
                t0 = time.time()
                out = fn(*inp)
                times.append(time.time() - t0)
                if not_none:
                    out = out is not None
                elif (e4 := big_encoding(out)) is not None:
                    big[len(outputs)] = e4
                outputs.append(out)
                del out
                if time.time() - start > opts["gt_budget"]:
                    break
            all_times[phase] = times
            if _too_big(outputs, opts["recompute_len"]):
                blobs.append(b"R%d" % len(outputs))  # each judge recomputes them (Mbpp/255: ~8 s less)
            else:  # a big output travels as its version-4 encoding only (it decodes to an equal value)
                shipped = [None if i in big else o for i, o in enumerate(outputs)]
                blobs.append(zlib.compress(pickle.dumps((shipped, big), protocol=4), 1))
                del shipped
            del outputs, big
    except BaseException as e:  # the canonical solution itself failed
        return {"error": f"{type(e).__name__}: {e}"[:500]}
    # The outputs go back as opaque compressed pickles (one per phase, their byte sizes in
    # `gt_sizes`) that only judges ever open (the host keeps and forwards them): Mbpp/255's outputs
    # pickle to 780 MB, a container's stdout runs at ~25 MB/s through the Docker daemon, and
    # re-pickling that on the host would take a minute.
    return {"times": all_times, "gt_sizes": [len(b) for b in blobs], "gt_bytes": b"".join(blobs)}


def big_encoding(out) -> bytes | None:
    """`out`'s marshal version-4 encoding where it is over BIG_OUTPUT and may be matched byte for
    byte, else None. Called right after the call, while its input is still alive, as in the
    candidate: version 4 writes an object once with a reference where it is shared (its refcount
    says so), so the bytes depend on what the output shares with the input. A NaN anywhere makes
    the decoded copy unequal (NaN != NaN), and such outputs are compared value by value."""
    try:
        e4 = marshal.dumps(out, 4)
        return e4 if len(e4) > BIG_OUTPUT and (marshal.loads(e4) == out) is True else None
    except Exception:  # not plain data (a Counter), or a value whose == is not a bool
        return None


class _Recompute:
    """Stands for an expected output the judge computes itself (it was too big to ship)."""


RECOMPUTE = _Recompute()


def _too_big(outputs: list, huge: int) -> bool:
    """Outputs whose pickling, shipping and unpickling would cost more than computing them again
    in each judge that needs them: a container of >= `huge` items (Mbpp/255: 1.7M tuples, 780 MB
    pickled), and no floats."""
    return any(isinstance(o, (list, tuple, dict, set, frozenset)) and len(o) >= huge for o in outputs) \
        and not any(is_floats(o) for o in outputs)


def _unpack(blob: bytes) -> tuple[list, dict]:
    """One ground-truth job's outputs and the version-4 encodings of its big ones, by index."""
    if blob[:1] == b"R":
        return [RECOMPUTE] * int(blob[1:]), {}
    outputs, big = pickle.loads(zlib.decompress(blob))
    for i, e4 in big.items():
        outputs[i] = marshal.loads(e4)
    return outputs, big


def expected_outputs(prob: dict, phase: str) -> list:
    """A phase's expected outputs, unpacked on first use: {phase: [(lo, blob), ...]} -> one list.
    Only the phase a check needs is unpacked (Mbpp/255's plus outputs take ~5 s and 1.3 GB); what
    was too big to ship is recomputed here by the canonical solution, as trusted_exec does (fresh
    exec, deepcopied input)."""
    exp = prob["expected"]
    if phase not in exp:
        with frozen_after():
            outputs, big = [], {}
            for _, blob in sorted(exp["blobs"].pop(phase)):
                part, part_big = _unpack(blob)
                big.update((len(outputs) + i, e4) for i, e4 in part_big.items())
                outputs += part
            todo = [i for i, o in enumerate(outputs) if o is RECOMPUTE]
            if todo:
                env: dict = {}
                exec(prob["canonical"], env)
                fn = env[prob["entry_point"]]
                for i in todo:
                    inp = deepcopy(prob[f"{phase}_inputs"][i])
                    outputs[i] = fn(*inp)
                    if (e4 := big_encoding(outputs[i])) is not None:
                        big[i] = e4
                    del inp
            exp[phase], exp[f"{phase}_v4"] = outputs, big
    return exp[phase]


def big_encodings(prob: dict, phase: str) -> dict[int, bytes]:
    """The version-4 encodings of a phase's big expected outputs (see big_encoding), by test index."""
    expected_outputs(prob, phase)
    return prob["expected"][f"{phase}_v4"]


class frozen_after:
    """Build big data with the cyclic GC off (it would rescan the growing heap again and again),
    then freeze it out of later GC passes. Freed data is still freed by reference counting."""

    def __enter__(self):
        gc.disable()

    def __exit__(self, *exc):
        gc.collect(1)  # young cycles only: cheap, and nothing but the judge's own garbage
        gc.freeze()
        gc.enable()
