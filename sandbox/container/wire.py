"""The wire between the judge and a candidate process: frames, and the plain data outputs cross in.

Frames (both directions): a type byte, a 4-byte little-endian length, the payload.

Plain data is marshal's format (version 0, or 4 for big outputs) restricted to exact built-in
types, plus tags for the standard containers whose `==` evalplus relies on:

    None, bool, int, float, complex, str, bytes  (bytearray and memoryview are sent as bytes)
    list, tuple, dict, set, frozenset
    collections.Counter 'C', OrderedDict 'O', defaultdict 'D' (a dict after the tag), deque 'Q' (a list)
    numpy scalars are sent as the Python value `.item()` gives; a namedtuple as a tuple

Anything else (a subclass of int or str, an ndarray, an object with its own `__eq__`) is refused by
name. The encoder runs in the candidate, so it is only a convenience for honest code: the guarantee
is the decoder, which the judge runs on bytes the candidate may have forged. It is pure Python,
builds nothing but the types above, checks every length against the bytes that are left, the
nesting depth and every back-reference, and never calls `marshal.loads` or `pickle` on what a
candidate sent. The judge compares a candidate's bytes with its own encoding of the expected output
first, and decodes only when they differ. Version 0 has no back-references and no interning flags,
so equal values built the same way encode to equal bytes; version 4 writes shared objects once
(Mbpp/255's biggest output: 614 MB and 1.2 s instead of 1.13 GB and 6.9 s), but its bytes also
depend on which objects are shared, so the judge asks for it only where the expected output is big.

Standard library only (numpy is looked up, never imported): this file runs in the image.
"""
from __future__ import annotations

import marshal
import struct
import sys
from collections import Counter, OrderedDict, defaultdict, deque

FRAME = struct.Struct("<cI")
I32 = struct.Struct("<i")
F64 = struct.Struct("<d")
C128 = struct.Struct("<dd")
MAX_DEPTH = 1000  # marshal itself refuses ~2000; no expected output nests past ~10

# candidate -> judge
LOADED, LOAD_FAILED, OUTPUT, RAISED, NOT_PLAIN, STMT_OK = b"L", b"E", b"O", b"X", b"N", b"P"
# judge -> candidate (INPUT: answer in version 0; INPUT_V4: in version 4, for big outputs)
JOB, INPUT, INPUT_V4, CALLS, STMT = b"J", b"I", b"K", b"C", b"S"

# Modules whose objects marshal would silently write as bytes (the buffer protocol): a program
# whose text names one of them gets its outputs walked instead of trusted to marshal.dumps (the
# zygote has numpy loaded for every program; a program returning a ctypes array is not worth a
# walk of every output)
BUFFER_MODULES = ("numpy", "array", "mmap")
_LEAVES = (type(None), bool, int, float, complex, str, bytes)
_SEQ_HEAD = {list: b"[", tuple: b"(", set: b"<", frozenset: b">"}
_DICT_TAG = {dict: b"", Counter: b"C", OrderedDict: b"O", defaultdict: b"D"}


def frame(kind: bytes, payload: bytes = b"") -> bytes:
    return FRAME.pack(kind, len(payload)) + payload


class NotPlain(Exception):
    """The value holds an object of a type that is not plain data; args[0] names the type."""


class Malformed(Exception):
    """Bytes that are not plain data (what a forged or broken reply looks like)."""


class SomeObject:
    """What the candidate sends, for the tasks whose oracle only asks "is the output not None?",
    in place of an output that is neither None nor a bool (Mbpp's regex tasks return re.Match)."""

    def __repr__(self) -> str:
        return "<an object>"


SOME_OBJECT = SomeObject()


def type_name(t: type) -> str:
    mod = getattr(t, "__module__", "") or ""
    name = f"{mod}.{t.__qualname__}" if mod not in ("builtins", "") else t.__qualname__
    return name[:120]


# --- encoding (the candidate's side) ------------------------------------------------------------
def encode(x, not_none: bool = False, walk: bool = True) -> bytes:
    """Plain-data bytes of `x`; raises NotPlain naming the first type that is not plain data.
    `not_none`: the output only has to be None, a bool, or anything else (special oracle).
    `walk=False`: no numpy (or other buffer) object can be in `x`, so marshal.dumps may write it."""
    if not_none:
        return marshal.dumps(x, 0) if x is None or type(x) is bool else b"!"
    if not walk:
        try:
            return marshal.dumps(x, 0)  # C speed; refuses every type it does not know exactly
        except ValueError:
            pass  # a Counter, a namedtuple, a non-plain object, too deep: walk it
    out: list[bytes] = []
    _walk(x, out, 0)
    return b"".join(out)


def _walk(x, out: list, depth: int) -> None:
    t = type(x)
    if t in _LEAVES:
        out.append(marshal.dumps(x, 0))
        return
    if depth >= MAX_DEPTH:
        raise NotPlain(f"a value nested more than {MAX_DEPTH} levels deep")
    if t in _SEQ_HEAD or t is deque:
        out.append(b"Q[" if t is deque else _SEQ_HEAD[t])
        out.append(I32.pack(len(x)))
        for item in x:
            _walk(item, out, depth + 1)
    elif t in _DICT_TAG:
        out.append(_DICT_TAG[t] + b"{")
        for k, v in x.items():
            _walk(k, out, depth + 1)
            _walk(v, out, depth + 1)
        out.append(b"0")
    elif t is bytearray or t is memoryview:
        out.append(marshal.dumps(bytes(x), 0))
    elif isinstance(x, tuple) and isinstance(getattr(t, "_fields", None), tuple):  # a namedtuple
        _walk(tuple(x), out, depth)
    else:
        np = sys.modules.get("numpy")
        if np is not None and isinstance(x, np.generic) and type(plain := x.item()) in _LEAVES:
            out.append(marshal.dumps(plain, 0))
        else:
            raise NotPlain(type_name(t))


# --- decoding (the judge's side) ----------------------------------------------------------------
_REFUSED = {ord("."): "Ellipsis", ord("S"): "StopIteration", ord("c"): "a code object", ord("?"): "an unknown object"}
_PENDING = object()  # a back-reference slot whose object is still being read


def decode(data: bytes):
    """The plain value `data` encodes (marshal version 0 or 4, plus the tags above); raises Malformed
    for anything else."""
    dec = _Decoder(bytes(data))
    try:
        value = dec.value(0)
    except (RecursionError, MemoryError):
        raise Malformed("nested too deeply") from None
    if dec.pos != len(dec.data):
        raise Malformed("trailing bytes after the value")
    return value


class _Decoder:
    """Version 4 adds back-references (a flag bit on a type code registers the object, 'r' + index
    points back at it), short and ASCII strings and binary floats. A back-reference may point only at
    an object already read in full: plain data has no cycles."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0
        self.refs: list = []

    def _take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise Malformed("truncated")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def _count(self, size: int = 4) -> int:
        n = I32.unpack(self._take(4))[0] if size == 4 else self._take(1)[0]
        if n < 0 or n > len(self.data) - self.pos:  # every item takes at least one byte
            raise Malformed("bad length")
        return n

    def value(self, depth: int):
        if depth > MAX_DEPTH:
            raise Malformed("nested too deeply")
        byte = self._take(1)[0]
        code = byte & 0x7F
        if code == 0x72:  # r: a back-reference
            idx = I32.unpack(self._take(4))[0]
            if byte & 0x80 or not 0 <= idx < len(self.refs) or self.refs[idx] is _PENDING:
                raise Malformed("bad back-reference")
            return self.refs[idx]
        if not byte & 0x80:
            return self._object(code, depth)
        idx = len(self.refs)
        self.refs.append(_PENDING)
        self.refs[idx] = value = self._object(code, depth)
        return value

    def _object(self, code: int, depth: int):
        if code == 0x4E:  # N
            return None
        if code == 0x54:  # T
            return True
        if code == 0x46:  # F
            return False
        if code == 0x69:  # i
            return I32.unpack(self._take(4))[0]
        if code == 0x6C:  # l
            return self._long()
        if code == 0x66:  # f
            return self._float()
        if code == 0x67:  # g: a binary float
            return F64.unpack(self._take(8))[0]
        if code == 0x78:  # x
            real = self._float()
            return complex(real, self._float())
        if code == 0x79:  # y: a binary complex
            return complex(*C128.unpack(self._take(16)))
        if code in (0x75, 0x74):  # u t
            try:
                return self._take(self._count()).decode("utf-8", "surrogatepass")
            except UnicodeDecodeError:
                raise Malformed("bad utf-8") from None
        if code in (0x61, 0x41):  # a A
            return self._take(self._count()).decode("latin-1")
        if code in (0x7A, 0x5A):  # z Z
            return self._take(self._count(1)).decode("latin-1")
        if code == 0x73:  # s
            return self._take(self._count())
        if code in (0x5B, 0x28, 0x29, 0x3C, 0x3E):  # [ ( ) < >
            items = [self.value(depth + 1) for _ in range(self._count(1 if code == 0x29 else 4))]
            if code == 0x5B:
                return items
            if code in (0x28, 0x29):
                return tuple(items)
            try:
                return set(items) if code == 0x3C else frozenset(items)
            except TypeError:
                raise Malformed("unhashable set item") from None
        if code == 0x7B:  # {
            return self._dict(depth)
        if code in (0x43, 0x4F, 0x44):  # C O D: a tagged dict
            if self._take(1) != b"{":
                raise Malformed("tag without a dict")
            d = self._dict(depth)
            return Counter(d) if code == 0x43 else OrderedDict(d) if code == 0x4F else defaultdict(None, d)
        if code == 0x51:  # Q: a deque
            if self._take(1) != b"[":
                raise Malformed("deque without a list")
            return deque([self.value(depth + 1) for _ in range(self._count())])
        if code == 0x21:  # !
            return SOME_OBJECT
        raise Malformed(f"returned {_REFUSED[code]}" if code in _REFUSED else f"unknown type code {code:#x}")

    def _dict(self, depth: int) -> dict:
        out: dict = {}
        while self.data[self.pos:self.pos + 1] != b"0":
            key = self.value(depth + 1)
            try:
                out[key] = self.value(depth + 1)
            except TypeError:
                raise Malformed("unhashable dict key") from None
        self.pos += 1
        return out

    def _float(self) -> float:
        text = self._take(self._take(1)[0])
        try:
            return float(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            raise Malformed("bad float") from None

    def _long(self) -> int:
        n = I32.unpack(self._take(4))[0]
        digits = struct.unpack(f"<{abs(n)}H", self._take(2 * abs(n)))  # base 2**15, least significant first
        if any(d >= 1 << 15 for d in digits):
            raise Malformed("bad long digit")
        # base 2 parses in linear time (shifting digit by digit would be quadratic in the length)
        value = int("".join(format(d, "015b") for d in reversed(digits)) or "0", 2)
        return -value if n < 0 else value
