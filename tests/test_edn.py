"""The EDN reader: what it writes it reads back, its fast and strict halves agree, and input it
does not read is refused with the line, the column and the problem."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from checkers.edn import MAX_DEPTH, EdnError, Keyword, dumps, fast_forms, loads, read_forms

names = st.from_regex(r"[a-z][a-z0-9\-]{0,6}", fullmatch=True)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
    | names.map(Keyword)
)
data = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            names.map(Keyword) | st.integers(0, 9) | st.text(max_size=3), inner, max_size=3
        )
    ),
    max_leaves=8,
)


def plain(value: Any) -> Any:
    """What reading gives back: keywords as their names, tuples as lists."""
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Keyword):
        return str(value)
    return value


def distinct_keys(value: Any) -> bool:
    """A map whose keyword and string keys share a name reads as one key twice: not EDN here."""
    if isinstance(value, dict):
        seen = [plain(k) for k in value]
        return len(seen) == len(set(seen)) and all(map(distinct_keys, value.values()))
    if isinstance(value, list):
        return all(map(distinct_keys, value))
    return True


@given(st.lists(data.filter(distinct_keys), min_size=1, max_size=4))
def test_written_lines_read_back_by_both_readers(values: list[Any]) -> None:
    text = "\n".join(dumps(v) for v in values)
    assert [form for _, form in read_forms(text)] == plain(values)
    fast = fast_forms(text)
    assert fast is None or fast == plain(values)


edn_texts = st.text(alphabet='{}[]()#:_ ,\n"\\;abnil0123456789.-+NMe', max_size=40)


@given(edn_texts)
@example('{:a "x\ny"} {:b 1}')  # a string across lines must not fool the line count
@example(":a#b")
@example("#{1 2}\n{:a #{}}")
def test_the_fast_reader_accepts_only_what_the_strict_reader_reads_the_same(text: str) -> None:
    fast = fast_forms(text)
    if fast is None:
        return
    forms = read_forms(text)
    assert [form for _, form in forms] == fast
    assert [line for line, _ in forms] == list(range(1, len(fast) + 1))


def test_jepsen_records_and_reader_syntax() -> None:
    text = (
        "#jepsen.history.Op{:index 0, :time 5, :type :invoke, :process 0, :f :send, "
        ":value [[:send 9 1]]}\n"
        "{:a #{1}, :b (1 2), :c \\x, :d #_ 3 4, :e 10N, :f 1.5M, :g sym, "
        ':h "\\u00e9\\ud83d\\ude00"}'
    )
    first, second = (form for _, form in read_forms(text))
    assert first == {"index": 0, "time": 5, "type": "invoke", "process": 0, "f": "send",
                     "value": [["send", 9, 1]]}  # fmt: skip
    assert second == {"a": [1], "b": [1, 2], "c": "x", "d": 4, "e": 10, "f": 1.5, "g": "sym",
                      "h": "é😀"}  # fmt: skip
    assert fast_forms(text.split("\n")[0]) == [first]


@pytest.mark.parametrize(
    ("text", "where", "said"),
    [
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), (1, MAX_DEPTH + 1), "nests deeper"),
        ('{:a 1}\n{:b "x}', (2, 5), "string opened at column 5 that never closes"),
        ("{:a 1 :b}", (1, 1), "a key and no value"),
        ("{:a 1 :a 2}", (1, 1), "the key 'a' twice"),
        ("[1 2}", (1, 5), "unexpected '}' (expected ']')"),
        ('"\\q"', (1, 2), "unknown string escape \\q"),
        ('"\\ud800"', (1, 2), "lone UTF-16 surrogate"),
        ("{[1] 2}", (1, 1), "key is a collection"),
        ("1/2", (1, 1), "number"),
    ],
)
def test_what_is_not_read_is_refused_with_line_and_column(
    text: str, where: tuple[int, int], said: str
) -> None:
    with pytest.raises(EdnError) as caught:
        read_forms(text)
    assert (caught.value.line, caught.value.column) == where
    assert said in caught.value.problem
    assert fast_forms(text) is None


def test_a_nesting_far_past_the_cap_is_a_clear_error_not_a_crash() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    assert fast_forms(deep) is None
    with pytest.raises(EdnError, match="nests deeper than"):
        loads(deep)
