"""The plain-data wire between candidate and judge (sandbox/container/wire.py), without Docker:
every allowed type round-trips exactly, everything else is refused by name, and no byte string (a
forged reply) decodes to anything but plain data or a Malformed error."""
from __future__ import annotations

import marshal
import random
import sys
from collections import Counter, OrderedDict, defaultdict, deque, namedtuple
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "sandbox" / "container"))
import wire  # noqa: E402

PLAIN = [None, True, False, 0, -1, 2**31 - 1, 2**31, -2**31 - 1, 2**100, -3**200, 1.5, -0.0, float("inf"), 1e300,
         1 + 2j, "", "héllo", "\ud800", "a" * 300, b"", b"\x00ab", (), (1,), [], [1, "a"], {}, {1: 2, "a": [3]},
         set(), {1, 2}, frozenset({3}), [[[]]], {(1, 2): {"x": [1.5, None]}}]
ALLOWED = [Counter("aab"), OrderedDict(a=1, b=2), defaultdict(list, {1: [2]}), deque([1, 2])]
PLAIN_TYPES = {type(None), bool, int, float, complex, str, bytes, list, tuple, dict, set, frozenset,
               Counter, OrderedDict, defaultdict, deque, wire.SomeObject}


@pytest.mark.parametrize("value", PLAIN + ALLOWED, ids=repr)
def test_plain_values_round_trip_with_their_types(value):
    for walk in (False, True):
        data = wire.encode(value, walk=walk)
        got = wire.decode(data)
        assert got == value and type(got) is type(value)
        assert repr(got) == repr(value) or type(value) is defaultdict  # (its factory does not travel)
    if type(value) not in (Counter, OrderedDict, defaultdict, deque):
        assert wire.encode(value, walk=False) == marshal.dumps(value, 0)  # one encoding: bytes compare
        out: list = []
        wire._walk(value, out, 0)
        assert b"".join(out) == marshal.dumps(value, 0)
        assert repr(wire.decode(marshal.dumps(value, 4))) == repr(value)  # big outputs use version 4


def test_standard_containers_and_numpy_scalars_become_what_evalplus_compares():
    point = namedtuple("Point", "x y")(1, 2)
    assert wire.decode(wire.encode(point)) == (1, 2) and type(wire.decode(wire.encode(point))) is tuple
    assert wire.decode(wire.encode(bytearray(b"xy"))) == b"xy"
    for scalar, plain in ((np.int64(3), 3), (np.float64(0.5), 0.5), (np.bool_(True), True), (np.str_("s"), "s")):
        got = wire.decode(wire.encode([scalar], walk=True))
        assert got == [plain] and type(got[0]) is type(plain)


class IntLiar(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


@pytest.mark.parametrize("value, name", [
    (IntLiar(0), "IntLiar"), ([1, IntLiar(2)], "IntLiar"), (np.zeros(2), "numpy.ndarray"),
    (object(), "object"), ({1: type}, "type"), (type("S", (str,), {})("x"), "S"),
])
def test_anything_else_is_refused_by_name(value, name):
    with pytest.raises(wire.NotPlain) as err:
        wire.encode(value, walk=True)
    assert name in str(err.value)


def test_the_not_none_oracle_only_needs_none_a_bool_or_something():
    assert wire.decode(wire.encode(object(), not_none=True)) is wire.SOME_OBJECT
    assert wire.decode(wire.encode(None, not_none=True)) is None
    assert wire.decode(wire.encode(False, not_none=True)) is False


@pytest.mark.parametrize("data, why", [
    (b"", "truncated"), (b"i\x00", "truncated"), (b"[\xff\xff\xff\x7f", "bad length"), (b"NN", "trailing"),
    (b".", "Ellipsis"), (b"c", "code object"), (b"r\x00\x00\x00\x00", "back-reference"),
    (b"\xdb\x01\x00\x00\x00r\x00\x00\x00\x00", "back-reference"),  # a list containing itself: a cycle
    (b"<\x01\x00\x00\x00[\x00\x00\x00\x00", "unhashable"), (b"f\x03abc", "bad float"), (b"z", "truncated"),
    (b"[\x01\x00\x00\x00" * 5000 + b"N", "nested too deeply"),
])
def test_forged_bytes_are_malformed(data, why):
    with pytest.raises(wire.Malformed) as err:
        wire.decode(data)
    assert why in str(err.value)


def _plain_only(value) -> bool:
    if type(value) not in PLAIN_TYPES:
        return False
    if isinstance(value, dict):
        return all(_plain_only(k) and _plain_only(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset, deque)):
        return all(_plain_only(v) for v in value)
    return True


def test_random_corruptions_decode_to_plain_data_or_malformed():
    rng = random.Random(0)
    decoded = 0
    for _ in range(20_000):
        data = bytearray(marshal.dumps(rng.choice(PLAIN), rng.choice((0, 4))))
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            value = wire.decode(bytes(data))
        except wire.Malformed:
            continue
        assert _plain_only(value), value
        decoded += 1
    assert decoded > 1000  # the corruptions were not all trivially rejected
