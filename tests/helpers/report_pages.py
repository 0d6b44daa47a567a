"""Hand-built histories and runs for the report's tests, and a strict HTML parser that records
what a well-formed page must satisfy (every tag closed, ids, links, text)."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import orjson

VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "wbr", "source"}


class StrictParser(HTMLParser):
    """Parses a document and records what a well-formed one must satisfy."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.ids: list[str] = []
        self.classes: list[str] = []
        self.tags: list[str] = []
        self.hrefs: list[str] = []
        self.srcs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        if values.get("id"):
            self.ids.append(values["id"] or "")
        self.classes += (values.get("class") or "").split()
        if values.get("href") is not None:
            self.hrefs.append(values["href"] or "")
        if values.get("src") is not None:
            self.srcs.append(values["src"] or "")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(document: str) -> StrictParser:
    parser = StrictParser()
    parser.feed(document)
    parser.close()
    assert parser.errors == []
    assert parser.stack == []
    return parser


class History:
    """Builds a history line by line; times are given in seconds."""

    def __init__(self) -> None:
        self.ops: list[dict[str, Any]] = []

    def add(
        self, t: float, process: Any, type_: str, f: str, value: Any = None, **extra: Any
    ) -> int:
        index = len(self.ops)
        op = {"index": index, "time": round(t * 1e9), "process": process, "type": type_, "f": f}
        op["value"] = value
        op.update(extra)
        self.ops.append(op)
        return index

    def send(self, t: float, process: int, mid: str, sender: str, to: list[str], node: str) -> int:
        value = {"id": mid, "conv": "c1", "from": sender, "to": to}
        return self.add(t, process, "invoke", "send", value, node=node)

    def done(self, t: float, process: int, type_: str, mid: str, node: str, **extra: Any) -> int:
        return self.add(t, process, type_, "send", {"id": mid, "conv": "c1"}, node=node, **extra)

    def deliver(self, t: float, process: int, mid: str, user: str, node: str) -> int:
        value = {"id": mid, "conv": "c1", "from": "u?", "user": user}
        return self.add(t, process, "ok", "deliver", value, node=node)


def scenario(evil_user: str = "u2") -> tuple[History, dict[str, int]]:
    """Seven sends around a partition (1.0-3.6 s) and a kill of n3 (4.0-5.0 s), then a drain.

    During faults: m2 fail, m3 ok, m4 info, m5 ok (invoked before the heal completed).
    Outside: m1 ok, m6 ok, m7 never completed (info). Ok latencies: 100, 300, 150, 300 ms.
    """
    h, at = History(), {}
    at["m1"] = h.send(0.0, 0, "m1", "u1", [evil_user], "n1")
    h.done(0.1, 0, "ok", "m1", "n1", seq=1)
    at["deliver-m1"] = h.deliver(0.2, 1, "m1", evil_user, "n2")
    h.add(1.0, "nemesis", "invoke", "partition", {"groups": [["n1"], ["n2", "n3"]]})
    h.add(1.1, "nemesis", "ok", "partition", {"groups": [["n1"], ["n2", "n3"]]})
    at["m2"] = h.send(1.5, 0, "m2", "u1", ["u2"], "n1")
    at["m2-fail"] = h.done(1.6, 0, "fail", "m2", "n1", error="no majority")
    at["m3"] = h.send(2.0, 1, "m3", evil_user, ["u1"], "n2")
    h.done(2.3, 1, "ok", "m3", "n2")
    at["m4"] = h.send(2.5, 2, "m4", "u1", ["u2"], "n2")
    h.done(3.0, 2, "info", "m4", "n2", error="timeout")
    h.add(3.5, "nemesis", "invoke", "heal", None)
    at["m5"] = h.send(3.55, 3, "m5", "u3", ["u1"], "n3")
    h.add(3.6, "nemesis", "ok", "heal", None)
    h.done(3.7, 3, "ok", "m5", "n3")
    h.add(4.0, "nemesis", "invoke", "kill", {"nodes": ["n3"]})
    h.add(4.05, "nemesis", "ok", "kill", {"nodes": ["n3"]})
    h.add(4.5, "nemesis", "invoke", "restart", {"nodes": ["n3"]})
    h.add(5.0, "nemesis", "ok", "restart", {"nodes": ["n3"]})
    at["m6"] = h.send(5.5, 3, "m6", "u3", ["u1"], "n3")
    at["m6-ok"] = h.done(5.8, 3, "ok", "m6", "n3")
    at["m7"] = h.send(6.0, 0, "m7", "u1", ["u2"], "n1")
    h.add(6.5, "harness", "invoke", "drain", None)
    at["deliver-m3"] = h.deliver(7.0, 0, "m3", "u1", "n1")
    h.add(7.5, "harness", "ok", "drain", None)
    return h, at


TEST_JSON = {
    "name": "chat",
    "seed": 7,
    "mode": "cp",
    "nodes": ["n1", "n2", "n3"],
    "bug": None,
    "config": {"time_limit": 30.0, "nemesis": ["partition", "kill"]},
    "command": "splitbrain run --seed 7 --mode cp",
}


def write_run(folder: Path, ops: list[dict[str, Any]], results: dict[str, Any] | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "history.jsonl").write_bytes(b"".join(orjson.dumps(op) + b"\n" for op in ops))
    (folder / "test.json").write_bytes(orjson.dumps(TEST_JSON))
    if results is not None:
        (folder / "results.json").write_bytes(orjson.dumps(results))
    return folder
