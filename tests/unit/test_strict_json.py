"""Strict JSON request bodies (handlers/http/strict_json.py): what Python's json module lets through and JSON
does not (NaN, Infinity, 1e999, duplicate keys, integers Python can't read) is refused with its place."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.http import strict_json
from handlers.http.strict_json import NON_FINITE, NotJson, Problem, Refused, media_type_ok, parse


def problems(body: bytes | str) -> list[Problem]:
    with pytest.raises(Refused) as refused:
        parse(body.encode() if isinstance(body, str) else body)
    return refused.value.problems


@pytest.mark.parametrize(
    "spelling", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1E400", "123456789e400", "-2E+309"]
)
def test_non_finite_numbers_are_refused_where_they_are(spelling: str) -> None:
    assert problems(f'{{"a": {{"b": [1, {spelling}]}}}}') == [Problem(("a", "b", 1), NON_FINITE)]


def test_every_refused_value_is_listed() -> None:
    found = problems('{"x": NaN, "y": [Infinity, {"z": 1, "z": 2}], "x": 1}')
    assert sorted(found, key=lambda p: str(p.path)) == sorted(
        [
            Problem(("x",), "appears more than once in its object"),
            Problem(("y", 0), NON_FINITE),
            Problem(("y", 1, "z"), "appears more than once in its object"),
        ],
        key=lambda p: str(p.path),
    )
    assert str(Refused(found)) == "3 refused value(s)"


def test_a_top_level_value_is_named_by_the_empty_path() -> None:
    assert problems(b"NaN") == [Problem((), NON_FINITE)]
    assert problems(b"1" * 5000) == [Problem((), "is an integer with too many digits")]


def test_large_but_finite_numbers_and_long_integers_pass() -> None:
    assert parse(b'{"a": 1.7976931348623157e308, "b": -0.0, "c": 5e-324, "d": ' + b"9" * 4000 + b"}") == {
        "a": 1.7976931348623157e308,
        "b": -0.0,
        "c": 5e-324,
        "d": int("9" * 4000),
    }


@pytest.mark.parametrize("body", [b"", b"{", b'{"a": 1,}', b"{'a': 1}", b"\xff\xfe", b'{"a": 1} x', b"nan", b"[1, 2"])
def test_what_is_not_json_at_all_is_not_json(body: bytes) -> None:
    with pytest.raises(NotJson):
        parse(body)


def test_deep_nesting_is_refused_without_crashing() -> None:
    with pytest.raises((Refused, NotJson)):
        parse(b"[" * 100_000 + b"]" * 100_000)
    assert parse(b"[" * 50 + b"]" * 50) == json.loads(b"[" * 50 + b"]" * 50)


def test_objects_come_back_as_plain_dicts() -> None:
    value = parse(b'{"a": {"b": [{"c": 1}]}}')
    assert type(value) is dict and type(value["a"]) is dict and type(value["a"]["b"][0]) is dict


@pytest.mark.parametrize(
    "content_type, ok",
    [
        ("application/json", True),
        ("Application/JSON; charset=utf-8", True),
        (" application/json ;charset=UTF-8", True),
        ("application/vnd.api+json", True),
        ("application/problem+json; q=1", True),
        ("application/jsonx", False),
        ("text/json", False),
        ("text/plain", False),
        ("application/x-www-form-urlencoded", False),
        ("multipart/form-data; boundary=json", False),
        ("", False),
        (None, False),
    ],
)
def test_media_types(content_type: str | None, ok: bool) -> None:
    assert media_type_ok(content_type) is ok


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)


@given(JSON)
def test_any_valid_json_parses_as_json_loads_does(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False).encode()
    assert parse(text) == json.loads(text)


KEYS = st.text(st.characters(codec="utf-8"), min_size=1, max_size=8).filter(lambda k: k != "outer")


@settings(max_examples=200, deadline=None)
@given(
    value=st.recursive(
        st.integers() | st.text(max_size=5) | st.booleans() | st.none(),
        lambda inner: st.dictionaries(KEYS, inner, max_size=3) | st.lists(inner, max_size=3),
        max_leaves=10,
    ),
    key=KEYS,
)
def test_parser_finds_a_duplicated_key_at_any_depth(value: Any, key: str) -> None:
    wrapped = {"outer": value}
    spelled = json.dumps(key)
    text = json.dumps(wrapped)[:-1] + f", {spelled}: 1, {spelled}: 2}}"
    with pytest.raises(strict_json.Refused) as refused:
        strict_json.parse(text.encode())
    assert (key,) in [p.path for p in refused.value.problems]
    assert strict_json.parse(json.dumps(wrapped).encode()) == wrapped


def test_parser_refuses_integers_python_cannot_read_and_deep_nesting_without_crashing() -> None:
    with pytest.raises(strict_json.Refused):
        strict_json.parse(b'{"n": ' + b"9" * 5000 + b"}")
    with pytest.raises((strict_json.Refused, strict_json.NotJson)):
        strict_json.parse(b"[" * 100_000 + b"]" * 100_000)
