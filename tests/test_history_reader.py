"""Reading history.jsonl: what a valid file becomes, and how every kind of bad line is refused."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkers import HistoryError, load_history, parse_history
from tests.helpers.history_strategies import Builder, Case, correct_histories


def lines_of(ops: list[dict]) -> list[bytes]:
    return [orjson.dumps(op) + b"\n" for op in ops]


def write(path: Path, ops: list[dict], tail: bytes = b"") -> Path:
    path.write_bytes(b"".join(lines_of(ops)) + tail)
    return path


def one_exchange() -> Builder:
    return (
        Builder()
        .send(1, "m1", "c1", "u1", ["u2"])
        .ok(1, "m1", "c1", seq=1)
        .deliver(2, "m1", "c1", "u1", "u2", seq=1)
    )


def refusal(ops: list[dict], tail: bytes = b"") -> HistoryError:
    with pytest.raises(HistoryError) as caught:
        parse_history([*lines_of(ops), *([tail] if tail else [])], "h.jsonl")
    return caught.value


# --- what a valid history becomes ----------------------------------------------------------------


def test_sends_are_paired_with_their_completion_and_keep_their_seq() -> None:
    history = parse_history(lines_of(one_exchange().drain().ops))
    (send,) = history.sends
    assert (send.id, send.conv, send.sender, send.to) == ("m1", "c1", "u1", ("u2",))
    assert (send.outcome, send.index, send.end_index, send.seq) == ("ok", 0, 1, 1)
    (delivery,) = history.deliveries
    assert (delivery.id, delivery.user, delivery.index, delivery.seq) == ("m1", "u2", 2, 1)
    assert history.operations == 5 and history.drain_index == 4


def test_an_invoke_never_completed_ends_info() -> None:
    history = parse_history(lines_of(Builder().send(1, "m1", "c1", "u1", ["u2"]).ops))
    assert history.sends[0].outcome == "info"
    assert history.sends[0].end_index is None


def test_a_drain_that_never_completed_proves_nothing() -> None:
    history = parse_history(lines_of(one_exchange().drain(complete=False).ops))
    assert history.drain_index is None and not history.drain_completed


def test_retries_of_one_id_are_separate_attempts() -> None:
    ops = (
        Builder()
        .send(1, "m1", "c1", "u1", ["u2"])
        .info(1, "m1", "c1")
        .send(7, "m1", "c1", "u1", ["u2"])
        .ok(7, "m1", "c1", seq=3)
        .ops
    )
    history = parse_history(lines_of(ops))
    assert [(s.process, s.outcome) for s in history.sends] == [(1, "info"), (7, "ok")]


def test_a_delivery_may_fall_inside_a_send_on_the_same_process() -> None:
    ops = (
        Builder()
        .send(1, "m1", "c1", "u1", ["u2"])
        .deliver(1, "m2", "c1", "u2", "u1")
        .ok(1, "m1", "c1", seq=2)
        .ops
    )
    history = parse_history(lines_of(ops))
    assert history.sends[0].outcome == "ok" and len(history.deliveries) == 1


def test_what_the_format_does_not_forbid_is_tolerated() -> None:
    ops = one_exchange().ops
    ops[0] = {**ops[0], "extra": {"anything": [1, 2]}, "node": None}
    ops[2] = {**ops[2], "value": {**ops[2]["value"], "digest": None, "seq": None, "x": 1}}
    reused = (
        Builder()
        .send(4, "m9", "c1", "u1", ["u2"])
        .info(4, "m9", "c1")
        .send(4, "m10", "c1", "u1", ["u2"])  # a process reused after info
        .op(4, "ok", "send", None)
        .op(5, "invoke", "connect", {"node": "n1"})  # a client f the format does not define
        .op(5, "ok", "connect", None)
        .op("nemesis", "invoke", "partition", {"groups": [["n1"], ["n2"]]})
        .op("nemesis", "invoke", "latency", {"ms": 5})  # overlapping nemesis ops
        .op("nemesis", "info", "partition", None)
        .op("nemesis", "ok", "latency", None)
        .ops
    )
    for op in reused:
        op["index"] += len(ops)
        op["time"] += 10_000
    history = parse_history([*lines_of(ops + reused), b"\n", b"  \r\n"])
    assert history.operations == len(ops) + len(reused)
    assert history.deliveries[0].seq is None and history.deliveries[0].digest is None
    assert [s.outcome for s in history.sends] == ["ok", "info", "ok"]
    assert history.other_client_ops == 2


def test_a_run_directory_and_its_history_file_read_alike(tmp_path: Path) -> None:
    path = write(tmp_path / "history.jsonl", one_exchange().ops)
    assert load_history(tmp_path).operations == load_history(path).operations == 3


def test_the_last_line_needs_no_newline(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_bytes(b"".join(lines_of(one_exchange().ops)).rstrip(b"\n"))
    assert load_history(path).operations == 3


def test_an_empty_file_is_an_empty_history(tmp_path: Path) -> None:
    (tmp_path / "history.jsonl").write_bytes(b"")
    history = load_history(tmp_path)
    assert history.operations == 0 and history.sends == [] and history.deliveries == []


@given(correct_histories())
def test_every_generated_line_is_read(case: Case) -> None:
    history = parse_history(case.lines())
    ops = case.ops
    assert history.operations == len(ops)
    assert len(history.deliveries) == sum(op["f"] == "deliver" for op in ops)
    invokes = [op for op in ops if op["f"] == "send" and op["type"] == "invoke"]
    assert [s.id for s in history.sends] == [op["value"]["id"] for op in invokes]


# --- what is refused ---------------------------------------------------------------------------

BASE = one_exchange().ops


def edited(position: int, **changes: object) -> list[dict]:
    ops = [dict(op) for op in BASE]
    for key, value in changes.items():
        if value is None:
            ops[position].pop(key, None)
        else:
            ops[position][key] = value
    return ops


def with_value(position: int, **changes: object) -> list[dict]:
    value = dict(BASE[position]["value"])
    for key, item in changes.items():
        if item is None:
            value.pop(key, None)
        else:
            value[key] = item
    return edited(position, value=value)


REFUSED = {
    "not json": ([*lines_of(BASE[:2]), b'{"index": 2, "time":'], 3, "is not JSON"),
    "not an object": ([*lines_of(BASE[:1]), b"[1, 2]\n"], 2, "not an object"),
    "index missing": (lines_of(edited(1, index=None)), 2, "no field 'index'"),
    "index wrong": (lines_of(edited(1, index=5)), 2, "has index 5"),
    "index a string": (lines_of(edited(1, index="1")), 2, "field 'index' of type str"),
    "index a bool": (lines_of(edited(0, index=False)), 1, "field 'index' of type bool"),
    "time missing": (lines_of(edited(2, time=None)), 3, "no field 'time'"),
    "time a float": (lines_of(edited(2, time=1.5)), 3, "field 'time' of type float"),
    "time backwards": (lines_of(edited(2, time=1)), 3, "time must never decrease"),
    "type unknown": (lines_of(edited(1, type="done")), 2, "has type 'done'"),
    "type missing": (lines_of(edited(1, type=None)), 2, "no field 'type'"),
    "f missing": (lines_of(edited(1, f=None)), 2, "no field 'f'"),
    "value missing": (lines_of(edited(1, value=None)), 2, "no field 'value'"),
    "process unknown": (lines_of(edited(1, process="client")), 2, "has process 'client'"),
    "process negative": (lines_of(edited(1, process=-1)), 2, "has process -1"),
    "process missing": (lines_of(edited(1, process=None)), 2, "no field 'process'"),
    "node not a string": (lines_of(edited(1, node=3)), 2, "field 'node' of type int"),
    "error not a string": (lines_of(edited(1, error=[])), 2, "field 'error' of type list"),
    "completion with no invoke": (
        lines_of([{**BASE[1], "index": 0}]),
        1,
        "which has nothing in flight",
    ),
    "completion of another f": (
        lines_of(edited(1, f="connect")),
        2,
        "completes a connect (ok) on process 1, which has a send",
    ),
    "deliver as an invoke": (lines_of(edited(2, type="invoke")), 3, "is a deliver of type"),
    "deliver by the nemesis": (lines_of(edited(2, process="nemesis")), 3, "completes a nemesis"),
    "deliver without user": (lines_of(with_value(2, user=None)), 3, "no field 'user'"),
    "deliver without id": (lines_of(with_value(2, id=None)), 3, "no field 'id'"),
    "deliver with a text seq": (lines_of(with_value(2, seq="1")), 3, "field 'seq' of type str"),
    "deliver value a list": (lines_of(edited(2, value=[])), 3, "value is list, not an object"),
    "send without to": (lines_of(with_value(0, to=None)), 1, "no field 'to'"),
    "send to a number": (lines_of(with_value(0, to=[1])), 1, "must list user names"),
    "send without conv": (lines_of(with_value(0, conv=None)), 1, "no field 'conv'"),
    "send to its sender": (lines_of(with_value(0, to=["u2", "u1"])), 1, "include its sender"),
    "ok naming another id": (lines_of(with_value(1, id="m2")), 2, "but names 'm2'"),
    "ok with a text seq": (lines_of(with_value(1, seq="one")), 2, "field 'seq' of type str"),
    "completion of the drain never invoked": (
        lines_of(Builder().op("harness", "ok", "drain", None).ops),
        1,
        "completes a harness drain (ok) that was never invoked",
    ),
    "blank line inside": ([*lines_of(BASE[:1]), b"\n", *lines_of(BASE[1:])], 2, "is blank"),
    "invalid utf-8": ([*lines_of(BASE[:1]), b'{"index": 1, "f": "\xff"}\n'], 2, "is not JSON"),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_a_bad_line_is_refused_with_file_line_and_problem(name: str, tmp_path: Path) -> None:
    lines, line, problem = REFUSED[name]
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"".join(lines))
    with pytest.raises(HistoryError) as caught:
        load_history(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: line {line} ")
    assert problem in message
    assert caught.value.line == line
    assert "check again" in message  # and it says what to do next


def test_a_second_invoke_while_one_is_in_flight_is_refused() -> None:
    ops = Builder().send(1, "m1", "c1", "u1", ["u2"]).send(1, "m2", "c1", "u1", ["u2"]).ops
    error = refusal(ops)
    assert error.line == 2 and "has not completed" in str(error)


@pytest.mark.parametrize(
    ("field", "other"),
    [("conv", "c2"), ("from", "u3"), ("to", ["u3"]), ("digest", "abc")],
)
def test_a_retry_that_is_another_message_is_refused(field: str, other: object) -> None:
    ops = Builder().send(1, "m1", "c1", "u1", ["u2"]).info(1, "m1", "c1")
    ops = ops.send(2, "m1", "c1", "u1", ["u2"]).ops
    ops[2] = {**ops[2], "value": {**ops[2]["value"], field: other}}
    error = refusal(ops)
    assert error.line == 3 and "a retry must repeat the same message" in str(error)


def test_missing_files_and_directories_without_history_are_refused(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match=r"no history\.jsonl"):
        load_history(tmp_path)
    with pytest.raises(HistoryError, match="cannot be read"):
        load_history(tmp_path / "nowhere.jsonl")


@given(correct_histories(), st.data())
def test_breaking_any_line_is_reported_at_that_line(case: Case, data: st.DataObject) -> None:
    lines = [line + b"\n" for line in case.lines()]
    if not lines:
        return
    position = data.draw(st.integers(0, len(lines) - 1), label="line")
    breakage = data.draw(st.sampled_from(["truncate", "index", "time", "type"]), label="how")
    op = case.ops[position]
    if breakage == "truncate":
        lines[position] = lines[position][: len(lines[position]) // 2] + b"\n"
    else:
        changed = {
            "index": {**op, "index": op["index"] + 1},
            "time": {**op, "time": -1},
            "type": {**op, "type": "maybe"},
        }[breakage]
        lines[position] = orjson.dumps(changed) + b"\n"
    if breakage == "time" and position == 0:
        return  # a first line may start at any time
    with pytest.raises(HistoryError) as caught:
        parse_history(lines, "h")
    assert caught.value.line == position + 1
