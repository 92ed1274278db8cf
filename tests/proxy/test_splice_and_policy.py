"""Two shortcuts on the proxy's hot path, checked against the slow way they replace.

- :func:`with_id` puts the proxy's id into a client's command text instead of re-encoding
  it: whenever it answers, the text must decode to the command with only the id changed,
  and carry that id once — the target (V8's and Chrome's CDP parsers) fails a message with
  a duplicate key and answers with the *first* ``"id"`` it saw, so a second spelling of the
  key (``"\\u0069d"``, ``"id" :``) left in the text would send the reply to another id.
- :class:`MethodPolicy` matches with one regular expression: it must say what
  ``fnmatchcase`` says for each pattern.
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdp_heap_proxy._chunks import with_id
from cdp_heap_proxy._policy import MethodPolicy

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["id", "a", "expression", "x"]), inner, max_size=3)
    ),
    max_leaves=8,
)
IDS = st.one_of(st.integers(0, 1000), st.integers(0, 2**53))


def top_level_pairs(text: str) -> list[tuple[str, Any]]:
    """The top-level object's keys and values as written (duplicates kept)."""
    seen: list[list[tuple[str, Any]]] = []

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen.append(pairs)
        return dict(pairs)

    json.loads(text, object_pairs_hook=hook)
    return seen[-1]  # the outermost object is finished last


def check_splice(text: str, old_id: int, new_id: int) -> str | None:
    """``with_id``, with what it must hold whenever it answers."""
    result = with_id(text, old_id, new_id)
    if result is not None:
        assert json.loads(result) == {**json.loads(text), "id": new_id}
        ids = [value for key, value in top_level_pairs(result) if key == "id"]
        assert ids == [new_id], f"{result!r} carries ids {ids}"
    return result


@st.composite
def commands(draw: st.DrawFn) -> tuple[str, dict[str, Any], list[str]]:
    """A command as a client might write it: keys in any order, compact or spaced."""
    obj: dict[str, Any] = {"id": draw(IDS), "method": "Runtime.evaluate"}
    if draw(st.booleans()):
        obj["params"] = draw(st.dictionaries(st.sampled_from(["id", "expression", "a"]), JSON))
    if draw(st.booleans()):
        obj["sessionId"] = draw(st.text(max_size=10))
    if draw(st.booleans()):
        obj["extra"] = draw(JSON)
    order = draw(st.permutations(list(obj)))
    ordered = {key: obj[key] for key in order}
    separators = draw(st.sampled_from([(",", ":"), (", ", ": "), (",", ": ")]))
    text = json.dumps(ordered, separators=separators, ensure_ascii=draw(st.booleans()))
    return text, obj, order


@given(commands(), IDS)
def test_the_splice_decodes_to_the_command_with_only_the_id_changed(
    command: tuple[str, dict[str, Any], list[str]], new_id: int
) -> None:
    text, obj, order = command
    result = check_splice(text, obj["id"], new_id)
    compact = f'"id":{obj["id"]}' in text
    plain = compact and text.count('"id"') == 1 and "\\u" not in text
    if plain and order[0] == "id" and len(order) > 1:
        assert result == text.replace(f'"id":{obj["id"]},', f'"id":{new_id},', 1)
    if plain and order[-1] == "id" and len(order) > 1:
        assert result is not None
    assert check_splice(text, obj["id"] + 1, new_id) is None  # not the id it has


@given(commands(), IDS, st.integers(0, 2**53), st.data())
def test_a_second_spelling_of_the_id_key_is_never_left_in(
    command: tuple[str, dict[str, Any], list[str]],
    new_id: int,
    other: int,
    data: st.DataObject,
) -> None:
    """A duplicate ``"id"`` the router's decoding (the last one wins) does not see: the
    splice gives up, or its text carries the one id."""
    text, obj, _ = command
    spelling = data.draw(
        st.sampled_from(['"\\u0069d"', '"i\\u0064"', '"\\u0069\\u0064"', '"id" ', '"id"\n'])
    )
    first = text[0] + f"{spelling}:{other}," + text[1:]
    check_splice(first, obj["id"], new_id)  # the last id is the decoded one
    last = text[:-1] + f",{spelling}:{other}" + text[-1]
    check_splice(last, other, new_id)


@pytest.mark.parametrize(
    ("text", "old", "expected"),
    [
        ('{"id":7,"method":"A.b","params":{}}', 7, '{"id":12345,"method":"A.b","params":{}}'),
        (
            '{"method":"A.b","params":{"x":1},"id":7}',
            7,
            '{"method":"A.b","params":{"x":1},"id":12345}',
        ),
        ('{"method":"A.b","id":7}', 7, '{"method":"A.b","id":12345}'),  # under 32 characters
        ('{"id":7, "method": "A.b"}', 7, '{"id":12345, "method": "A.b"}'),
        ('{"method":"A.b","id":7,"params":{}}', 7, None),  # in the middle
        ('{"id":7,"method":"A.b","id":8}', 8, None),  # twice
        ('{"id":7,"method":"A.b","id":7}', 7, None),
        ('{"id":7,"method":"A.b","params":{"id":7}}', 7, None),  # nested as well
        ('{"method":"A.b","params":{"id":7}}', 7, None),  # nested only
        ('{"method":"A.b","params":{"a":1,"id":7}}', 7, None),
        ('{"id":70,"method":"A.b"}', 7, None),  # another id
        ('{"id": 7, "method": "A.b"}', 7, None),  # spaced: not plainly first
        ('{"method": "A.b", "id": 7}', 7, None),
        ('{"\\u0069d":99,"method":"A.b","id":7}', 7, None),  # target would answer id 99
        ('{"id" :99,"method":"A.b","id":7}', 7, None),
        ('{"id":7,"method":"A.b","\\u0069d":99}', 99, None),
    ],
)
def test_where_the_id_is(text: str, old: int, expected: str | None) -> None:
    assert check_splice(text, old, 12345) == expected


# -- MethodPolicy -----------------------------------------------------------------------------

METHOD_CHARS = "aAbZ.*?[]!-\n"


@given(
    st.lists(st.text(METHOD_CHARS, max_size=7), min_size=1, max_size=4),
    st.lists(st.text(METHOD_CHARS, max_size=9), max_size=10),
)
def test_allows_equals_fnmatchcase_over_the_patterns(
    patterns: list[str], methods: list[str]
) -> None:
    policy = MethodPolicy(tuple(patterns))
    for method in methods + patterns:
        assert policy.allows(method) == any(fnmatchcase(method, p) for p in patterns), method


@given(
    st.lists(st.from_regex(r"\A(\*|[A-Za-z*]{1,6}\.[A-Za-z*]{1,6})\Z"), min_size=1, max_size=4),
    st.lists(st.from_regex(r"\A[A-Za-z]{0,6}\.?[A-Za-z]{0,6}\Z"), max_size=10),
)
def test_parsed_patterns_agree_with_fnmatchcase(patterns: list[str], methods: list[str]) -> None:
    policy = MethodPolicy.parse(",".join(patterns))
    for method in [*methods, "HeapProfiler.enable", "Runtime.evaluate"]:
        expected = any(fnmatchcase(method, p) for p in patterns)
        assert policy.allows(method) == expected
        domain = method.partition(".")[0]
        assert policy.allows_event(method) == (
            expected or any(fnmatchcase(f"{domain}.enable", p) for p in patterns)
        )


def test_the_usual_patterns() -> None:
    policy = MethodPolicy.parse("HeapProfiler.*, Runtime.evaluate,*.enable")
    assert policy.allows("HeapProfiler.takeHeapSnapshot")
    assert policy.allows("Runtime.evaluate")
    assert not policy.allows("Runtime.evaluateX")
    assert not policy.allows("XRuntime.evaluate")
    assert policy.allows("Debugger.enable")
    assert not policy.allows("Debugger.pause")
    assert not policy.allows("HeapProfiler")
    assert MethodPolicy().allows("Anything.at all")


def test_no_patterns_allow_nothing() -> None:
    assert not MethodPolicy(()).allows("Runtime.evaluate")
