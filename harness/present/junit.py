"""JUnit XML from check results, for the test reports of CI systems (Jenkins, GitLab, GitHub).

Pure: results (the ``results.json`` dict of history-format.md) and :class:`RunFacts` in, bytes
out. One ``<testsuite>`` per run, one ``<testcase>`` per checker, named after its anomaly (every
name of :data:`checkers.ANOMALIES`, also when its count is 0, so a CI's test history lines up run
after run). A caller may rely on:

- a checker that found its anomaly is a ``<failure>`` whose ``message`` gives the count and whose
  text lists each example's explanation, message ids and history indexes;
- the ``unknown`` verdict (no completed drain, so loss cannot be proven) is a ``<skipped>`` test
  case ``lost`` with the unseen count: the checker could not judge, it did not break. ``<error>``
  is kept for what JUnit means by it, a test that could not run: a run whose results are missing;
- ``<properties>`` hold the seed, the reproduce command, the run directory, the verdict and the
  availability, so a failing job says how to replay it;
- the output validates against ``docs/junit.xsd`` (the subset of JUnit those CI systems read).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checkers import kinds_of

VERDICT_WORDS = {True: "valid", False: "invalid", "unknown": "unknown"}
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot hold (each becomes U+FFFD)."""
    return _NOT_XML.sub("\ufffd", text)


@dataclass(frozen=True)
class RunFacts:
    """What a report needs of a run beyond its results: how to find and replay it.

    ``name`` becomes the test suite's name (and the test cases' ``classname`` prefix); every other
    field is optional and becomes a property when given.
    """

    name: str
    seed: int | str | None = None
    command: str | None = None
    run_dir: str | None = None
    report: str | None = None


def run_facts(name: str, test: Mapping[str, Any], run_dir: str | None) -> RunFacts:
    """The facts of a run from its ``test.json`` (``seed``, ``command``) and its directory."""
    seed = test.get("seed")
    command = test.get("command")
    return RunFacts(
        name=name,
        seed=seed if isinstance(seed, int | str) and not isinstance(seed, bool) else None,
        command=command if isinstance(command, str) else None,
        run_dir=run_dir,
        report=None if run_dir is None else f"{run_dir.rstrip('/')}/report.html",
    )


def _example_text(example: Any) -> str:
    if not isinstance(example, Mapping):
        return str(example)
    why = str(example.get("why", "")).strip()
    parts = [why] if why else []
    ids = example.get("ids")
    if isinstance(ids, list) and ids:
        parts.append("ids: " + ", ".join(map(str, ids)))
    indexes = example.get("indexes")
    if isinstance(indexes, list) and indexes:
        parts.append("history indexes: " + ", ".join(map(str, indexes)))
    return "\n  ".join(parts) if parts else str(dict(example))


def _failure_text(name: str, count: int, examples: Sequence[Any]) -> str:
    lines = [f"{count} {name} (history indexes count lines of history.jsonl from 0)"]
    lines += [f"- {_example_text(example)}" for example in examples]
    if len(examples) < count:
        lines.append(f"... and {count - len(examples)} more not kept as examples")
    return "\n".join(lines)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _properties(parent: ET.Element, results: Mapping[str, Any], facts: RunFacts) -> None:
    stats = results.get("stats") if isinstance(results.get("stats"), Mapping) else {}
    availability = stats.get("availability") if isinstance(stats, Mapping) else None
    items = [
        ("seed", facts.seed),
        ("reproduce", facts.command),
        ("run_dir", facts.run_dir),
        ("report", facts.report),
        ("history", results.get("source")),
        ("verdict", VERDICT_WORDS.get(results.get("valid"), str(results.get("valid")))),
        ("availability", availability),
        ("unseen", results.get("unseen")),
    ]
    props = ET.SubElement(parent, "properties")
    for name, value in items:
        if value is not None:
            ET.SubElement(props, "property", name=name, value=str(value))


def _testsuite(results: Mapping[str, Any], facts: RunFacts) -> ET.Element:
    suite = ET.Element("testsuite", name=facts.name)
    _properties(suite, results, facts)
    counts = results.get("anomaly_counts")
    counts = counts if isinstance(counts, Mapping) else {}
    anomalies = results.get("anomalies")
    anomalies = anomalies if isinstance(anomalies, Mapping) else {}
    names = kinds_of(results)
    failures = skipped = errors = 0
    for name in names:
        case = ET.SubElement(suite, "testcase", name=name, classname=f"splitbrain.{facts.name}")
        case.set("time", "0")
        count = _int(counts.get(name))
        examples = anomalies.get(name)
        examples = examples if isinstance(examples, list) else []
        if name not in counts:
            errors += 1
            error = ET.SubElement(case, "error", message=f"the results have no count of {name}")
            error.set("type", "missing-result")
            error.text = "Re-run `splitbrain check` on the run to write complete results."
        elif count:
            failures += 1
            failure = ET.SubElement(case, "failure", message=f"{count} {name}", type=name)
            failure.text = _failure_text(name, count, examples)
        elif name == "lost" and results.get("valid") == "unknown":
            skipped += 1
            unseen = _int(results.get("unseen"))
            ET.SubElement(
                case,
                "skipped",
                message=(
                    f"unknown: {unseen} (message, recipient) pairs unseen and no completed drain, "
                    "so loss cannot be proven"
                ),
            )
    out = ET.SubElement(suite, "system-out")
    out.text = "\n".join(
        f"{label}: {value}"
        for label, value in (
            ("verdict", VERDICT_WORDS.get(results.get("valid"), "?")),
            ("run directory", facts.run_dir),
            ("report", facts.report),
            ("reproduce", facts.command),
        )
        if value is not None
    )
    suite.set("tests", str(len(names)))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    suite.set("time", "0")
    return suite


def junit_xml(runs: Sequence[tuple[Mapping[str, Any], RunFacts]]) -> bytes:
    """A ``<testsuites>`` document with one ``<testsuite>`` per (results, facts) pair, UTF-8."""
    root = ET.Element("testsuites", name="splitbrain")
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for results, facts in runs:
        suite = _testsuite(results, facts)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
        root.append(suite)
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", "0")
    for element in root.iter():
        if element.text:
            element.text = xml_safe(element.text)
        for key, value in element.attrib.items():
            element.set(key, xml_safe(value))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def run_junit(results: Mapping[str, Any], facts: RunFacts) -> bytes:
    """The JUnit XML of one run (what ``run --junit FILE`` writes)."""
    return junit_xml([(results, facts)])
