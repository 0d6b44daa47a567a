"""JUnit XML from check results, for the test reports of CI systems (Jenkins, GitLab, GitHub).

Pure: results (:class:`harness.results.Results`, or results.json's data) and :class:`RunFacts`
in, bytes out. One ``<testsuite>`` per run, one ``<testcase>`` per anomaly the results count
(the checkers count every one they know, also at 0, so a CI's test history lines up run after
run). A caller may rely on:

- a checker that found its anomaly is a ``<failure>`` whose ``message`` gives the count and whose
  text lists each example's explanation, message ids and history indexes;
- the ``unknown`` verdict (no completed drain, so loss cannot be proven) is a ``<skipped>`` test
  case ``lost`` with the unseen count: the checker could not judge, it did not break. ``<error>``
  is kept for what JUnit means by it, a test that could not run: a run that was never judged;
- ``<properties>`` hold the seed, the reproduce command, the run directory, the verdict, the
  availability, and the system: ``system``, ``system.version`` and one ``system.option.NAME``
  per option that differs from its default, so a failing job says what ran and how to replay it;
- the output validates against ``docs/junit.xsd`` (the subset of JUnit those CI systems read).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checkers import kinds_of
from harness.results import Results
from harness.run_description import RunDescription
from systems.seam import SystemDescription, show_value

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
    system: SystemDescription | None = None


def run_facts(name: str, test: Mapping[str, Any], run_dir: str | None) -> RunFacts:
    """The facts of a run from its ``test.json`` (seed, command, system) and its directory."""
    described = RunDescription.from_json(test)
    return RunFacts(
        name=name,
        seed=described.seed,
        command=described.command,
        run_dir=run_dir,
        report=None if run_dir is None else f"{run_dir.rstrip('/')}/report.html",
        system=described.system,
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


def _verdict(results: Results) -> str:
    return "?" if results.valid is None else VERDICT_WORDS[results.valid]


def _properties(parent: ET.Element, results: Results, facts: RunFacts) -> None:
    system = facts.system or results.system
    items: list[tuple[str, Any]] = [
        ("seed", facts.seed),
        ("reproduce", facts.command),
        ("run_dir", facts.run_dir),
        ("report", facts.report),
        ("history", results.source),
        ("verdict", _verdict(results)),
        ("availability", results.availability),
        ("unseen", results.unseen),
    ]
    if system is not None:
        items += [("system", system.name), ("system.version", system.version)]
        items += [(f"system.option.{k}", show_value(v)) for k, v in system.options.items()]
    props = ET.SubElement(parent, "properties")
    for name, value in items:
        if value is not None:
            ET.SubElement(props, "property", name=name, value=str(value))


def _testsuite(given: Results | Mapping[str, Any], facts: RunFacts) -> ET.Element:
    results = Results.of(given)
    suite = ET.Element("testsuite", name=facts.name)
    _properties(suite, results, facts)
    names = kinds_of(results)
    failures = skipped = errors = 0
    if results.valid is None:
        names = [*names, "verdict"]
    for name in names:
        case = ET.SubElement(suite, "testcase", name=name, classname=f"splitbrain.{facts.name}")
        case.set("time", "0")
        count = results.count(name)
        examples = results.examples(name)
        if name == "verdict" and results.valid is None:
            errors += 1
            error = ET.SubElement(case, "error", message="the run was never judged")
            error.set("type", "missing-result")
            error.text = "Re-run `splitbrain check` on the run to write complete results."
        elif count:
            failures += 1
            failure = ET.SubElement(case, "failure", message=f"{count} {name}", type=name)
            failure.text = _failure_text(name, count, examples)
        elif name == "lost" and results.valid == "unknown":
            skipped += 1
            unseen = results.unseen
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
            ("verdict", _verdict(results)),
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


def junit_xml(runs: Sequence[tuple[Results | Mapping[str, Any], RunFacts]]) -> bytes:
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
        for name, text in element.attrib.items():
            element.set(name, xml_safe(text))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def run_junit(results: Results | Mapping[str, Any], facts: RunFacts) -> bytes:
    """The JUnit XML of one run (what ``run --junit FILE`` writes)."""
    return junit_xml([(results, facts)])
