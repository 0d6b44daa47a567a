"""Jepsen interchange: export as Jepsen EDN, read back by ``check``, and the kafka/queue shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from checkers import HistoryError, check_history, load_history, parse_history
from checkers.edn import loads
from checkers.jepsen_edn import edn_history_lines, op_to_edn
from harness.cli import main
from harness.jepsen_queue import consumer_base, queue_lines
from tests.helpers.history_strategies import INJECTORS, Case, correct_histories, edited_histories

EXAMPLES = Path(__file__).resolve().parent.parent / "histories" / "examples"

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def decorated(draw: st.DrawFn, base: st.SearchStrategy[Case]) -> list[dict[str, Any]]:
    """Histories whose lines also carry what the format allows beside the checked fields:
    ``node``, ``error``, unknown fields with any JSON (odd keys included)."""
    ops = draw(base).ops
    out = []
    for op in ops:
        extra = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "node": st.sampled_from(["n1", "n2", "n3"]),
                    "error": st.text(max_size=8),
                    "x-extra": json_values,
                    "weird key": json_values,
                },
            )
        )
        out.append({**op, **extra})
    return out


def edn_text(ops: list[dict[str, Any]]) -> str:
    return "".join(op_to_edn(op) + "\n" for op in ops)


def read_back(text: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in edn_history_lines(text, "h.edn") if line]


def verdict(lines: Any, source: str) -> dict[str, Any] | str:
    try:
        results = check_history(parse_history(lines, source))
    except HistoryError as exc:
        return f"error at line {exc.line}"
    results.pop("source")
    return results


@given(decorated(edited_histories()) | decorated(correct_histories()))
@example([{"index": 0, "time": 1, "process": "nemesis", "type": "invoke", "f": "kill",
           "value": {"nodes": ["n1"], "with space": "\t\"é\\"}}])  # fmt: skip
def test_export_then_read_back_keeps_every_field_and_the_verdict(ops: list[dict]) -> None:
    text = edn_text(ops)
    assert read_back(text) == ops
    assert verdict(edn_history_lines(text, "h.edn"), "h") == verdict(
        [orjson.dumps(op) for op in ops], "h"
    )


@pytest.mark.parametrize("name", sorted(INJECTORS))
def test_every_anomaly_survives_the_round_trip(name: str, tmp_path: Path) -> None:
    source = next(EXAMPLES.glob(f"{name}*.jsonl"))
    ops = [orjson.loads(line) for line in source.read_bytes().splitlines() if line.strip()]
    edn = tmp_path / "history.edn"
    edn.write_text(edn_text(ops))
    before, after = check_history(load_history(source)), check_history(load_history(edn))
    assert after["anomaly_counts"][name] > 0
    assert {**after, "source": ""} == {**before, "source": ""}


def test_the_edn_is_jepsen_shaped() -> None:
    op = {"index": 3, "time": 9, "process": "nemesis", "type": "invoke", "f": "partition",
          "value": {"groups": [["n1"], ["n2", "n3"]]}}  # fmt: skip
    line = op_to_edn(op)
    assert line == (
        "{:index 3, :time 9, :process :nemesis, :type :invoke, :f :partition, "
        ':value {:groups [["n1"] ["n2" "n3"]]}}'
    )
    assert loads(line)["value"]["groups"][1] == ["n2", "n3"]


def test_an_f_no_keyword_can_hold_stays_a_string() -> None:
    op = {"index": 0, "time": 1, "process": 2, "type": "invoke", "f": "look up", "value": None}
    line = op_to_edn(op)
    assert ':f "look up"' in line
    assert read_back(line + "\n") == [op]


def test_check_reads_edn_by_content_and_a_vector_of_ops(tmp_path: Path) -> None:
    ops = [orjson.loads(x) for x in (EXAMPLES / "lost.jsonl").read_bytes().splitlines()]
    by_content = tmp_path / "history.txt"
    by_content.write_text(edn_text(ops))
    assert check_history(load_history(by_content))["anomaly_counts"]["lost"] == 1
    vector = tmp_path / "v.edn"
    vector.write_text("[" + "\n ".join(op_to_edn(op) for op in ops) + "]\n")
    assert check_history(load_history(vector))["anomaly_counts"]["lost"] == 1


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('{:index 0 :time 0 :process 1 :type :invoke :f :send :value {:id "a"}\n', ":1: line 1 "),
        ('{:index 0 :time 0 :process :nemesis :type :invoke :f :kill :value nil}\n'
         '{:index 1 :time 0 :process :nemesis :type :ok :f :kill :value "x}\n',
         ":2: line 2 has a string opened at column 63 that never closes"),
        ('{:index 0 :time 0 :process :nemesis :type :invoke :f :kill :value nil}\n'
         '{:index 1 :time 0 :process :nemesis :type :ok :f :kill :value nil}}\n',
         ":2: line 2 unexpected '}' (column 67)"),
        ("{:index 0} {:index 1}\n", "line 1 holds two EDN forms"),
        ("{:index 0 :time 0 :process 1 :type :ok :f :send :value {}}\n",
         "completes a send (ok) on process 1, which has nothing in flight"),
    ],
)  # fmt: skip
def test_bad_edn_exits_2_naming_file_line_and_problem(
    text: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.edn"
    bad.write_text(text)
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and said in err


def test_queue_shape_sends_and_polls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = EXAMPLES / "valid-concurrent-sends.jsonl"
    ops = [orjson.loads(x) for x in source.read_bytes().splitlines() if x.strip()]
    out = tmp_path / "q.edn"
    assert main(["export", str(source), "--format", "jepsen-queue", "--out", str(out)]) == 0
    forms = [loads(line) for line in out.read_text().splitlines()]
    assert [f["index"] for f in forms] == list(range(len(forms)))
    written = {}
    polled = []
    base = consumer_base(ops)
    for form in forms:
        if form["f"] == "send" and form["type"] == "ok":
            for micro in form["value"]:
                assert micro[0] == "send"
                written[(micro[1], micro[2][0])] = micro[2][1]
        if form["f"] == "poll":
            assert form["process"] >= base
            if form["type"] == "invoke":
                assert form["value"] == [["poll"]]
            else:
                (_, logs), = form["value"]  # fmt: skip
                polled += [(key, o, v) for key, pairs in logs.items() for o, v in pairs]
    sent = sum(len(op["value"]["to"]) for op in ops if op["f"] == "send" and op["type"] == "invoke")
    deliveries = sum(1 for op in ops if op["f"] == "deliver")
    assert len(written) == sent and len(polled) == deliveries > 0
    assert all(written[(key, offset)] == value for key, offset, value in polled)
    assert len(forms) == len(ops) + deliveries


def test_queue_lines_key_each_recipients_feed_of_a_conversation() -> None:
    ops = [
        {"index": 0, "time": 1, "process": 12, "type": "invoke", "f": "send",
         "value": {"id": "a", "conv": "g9", "from": "u1", "to": ["u2", "u3"]}},
        {"index": 1, "time": 2, "process": 12, "type": "info", "f": "send",
         "value": {"id": "a", "conv": "g9"}, "error": "timeout"},
        {"index": 2, "time": 3, "process": 3, "type": "ok", "f": "deliver",
         "value": {"id": "a", "conv": "g9", "from": "u1", "user": "u2"}},
    ]  # fmt: skip
    forms = [loads(line) for line in queue_lines(ops, consumer_base(ops))]
    assert consumer_base(ops) == 100
    assert forms[1]["value"] == [["send", 0, "a"], ["send", 1, "a"]]
    assert forms[1]["error"] == "timeout"
    assert forms[3]["process"] == 103
    assert forms[3]["value"] == [["poll", {0: [[None, "a"]]}]]
    assert (forms[3]["conv"], forms[3]["user"]) == ("g9", "u2")


def test_export_of_unreadable_input_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.edn"
    bad = EXAMPLES / "bad-not-json.jsonl"
    assert main(["export", str(bad), "--format", "jepsen-edn", "--out", str(out)]) == 2
    assert str(bad) in capsys.readouterr().err and not out.exists()
