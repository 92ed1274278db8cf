"""The reader's parse of a block of numbers (``_Reader._parse_numbers``) against the plain
version it replaced (``numpy.fromstring`` and a comma count), on random text and on blocks
of a real snapshot's arrays cut at random places."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cdp_heap.analysis import SnapshotFormatError
from cdp_heap.analysis._fileindex import WHITESPACE
from cdp_heap.analysis._reader import _Reader
from tests.analysis.conftest import Pair

UINT32_MAX = 2**32 - 1


def plain_parse(text: bytes, key: str) -> npt.NDArray[np.int64] | str:
    """The parse before the fast path: the numbers, or the error's message."""
    stripped = text.strip(WHITESPACE)
    if not stripped:
        return np.empty(0, dtype=np.int64)
    count = stripped.count(b",") + 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = np.fromstring(stripped, dtype=np.int64, sep=",")
    except ValueError:
        values = np.empty(0, dtype=np.int64)
    if len(values) != count:
        return f"f: not a valid snapshot: {key!r} holds something other than numbers"
    if len(values) and int(values.view(np.uint64).max()) > UINT32_MAX:
        return f"f: not a valid snapshot: {key!r} holds numbers out of range"
    return values


def parse(text: bytes, key: str = "edges") -> npt.NDArray[np.int64] | str:
    reader = _Reader.__new__(_Reader)
    reader._name = "f"
    try:
        return reader._parse_numbers(text, key)
    except SnapshotFormatError as exc:
        return str(exc)


def same(got: npt.NDArray[np.int64] | str, want: npt.NDArray[np.int64] | str) -> bool:
    if isinstance(got, str) or isinstance(want, str):
        return got == want
    return got.dtype == want.dtype and np.array_equal(got, want)


#: Bytes that numbers, separators and the ways they go wrong are made of.
NUMBERS = [b"0", b"1", b"7", b"42", b"4294967295", b"4294967296", b"99999999999999999999"]
SEPARATORS = [b",", b",", b",", b"\n", b"\n,", b" ", b"\t", b"\r", b"\x0b", b"\x0c", b"\x00"]
WRONG = [b"00", b"-", b"+", b"x", b".", b"e", b"]", b"1e3", b"0x1", b"-0", b"-1"]
NASTY = st.sampled_from([*NUMBERS, *SEPARATORS, *WRONG])


@settings(max_examples=2000, deadline=None)
@given(st.lists(NASTY, max_size=12).map(b"".join))
@example(b"1,2,")
@example(b"1,2,\x0c")
@example(b"1,2\n,")
@example(b"1,-2")
@example(b"1,4294967296")
@example(b"1 2")
@example(b"1,2x")
def test_parse_is_the_plain_parse_on_any_text(text: bytes) -> None:
    assert same(parse(text), plain_parse(text, "edges"))


@st.composite
def number_text(draw: st.DrawFn) -> bytes:
    """Valid arrays as V8 writes them, or with other whitespace and signs."""
    values = draw(st.lists(st.integers(-5, 2**32 + 5) | st.integers(0, 99), min_size=1))
    seps = st.sampled_from([b",", b"\n,", b",\n", b" , ", b",\t"])
    parts = [str(values[0]).encode()]
    for v in values[1:]:
        parts += [draw(seps), str(v).encode()]
    return draw(st.sampled_from([b"", b"\n", b" "])) + b"".join(parts)


@settings(max_examples=1000, deadline=None)
@given(number_text())
def test_parse_is_the_plain_parse_on_arrays(text: bytes) -> None:
    assert same(parse(text, "nodes"), plain_parse(text, "nodes"))


@pytest.fixture(scope="module")
def edges_text(pair: Pair) -> bytes:
    data = Path(pair.base).read_bytes()
    start = data.index(b'"edges":[') + len(b'"edges":[')
    return data[start : data.index(b"]", start)]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_parse_is_the_plain_parse_on_real_blocks(edges_text: bytes, data: st.DataObject) -> None:
    """A real snapshot's ``edges`` cut at random places (inside a number too, as a reader
    that cut anywhere would), and at commas, as the reader does."""
    n = len(edges_text)
    start = data.draw(st.integers(0, n - 1))
    end = data.draw(st.integers(start, min(n, start + 300_000)))
    block = edges_text[start:end]
    if data.draw(st.booleans()):
        cut = block.rfind(b",")
        block = block[:cut] if cut > 0 else block
    assert same(parse(block), plain_parse(block, "edges"))


def test_a_whole_array_parses_to_its_numbers(edges_text: bytes) -> None:
    got = parse(edges_text)
    assert not isinstance(got, str)
    assert np.array_equal(got, [int(v) for v in edges_text.split(b",")])
