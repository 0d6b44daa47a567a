"""``results.json`` as one typed record: read and written here only.

:class:`Results` holds what the checkers found (history-format.md: ``valid``, ``anomaly_counts``,
``anomalies``, ``unseen``, ``stats``, ...), what run-level checks of the harness added (the
confidentiality scan's ``leaked``: a finding the history alone cannot give, so a re-check keeps
it), the run's availability figures (``run``) and the system that ran (``system``). Anomaly names
are whatever the checkers return: nothing here lists them.

The record is also a read-only mapping of its JSON form, so code that reads results.json's keys as
history-format.md names them (``results["anomaly_counts"]["lost"]``) reads this record the same.
Keys it does not know are kept and written back unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import orjson

from harness.runstore import write_json
from splitbrain.errors import SplitbrainError
from splitbrain.numbers import int_or, number_or
from systems.seam import SystemDescription

Valid = bool | Literal["unknown"]
EXIT_CODES: Mapping[Valid, int] = {True: 0, False: 1, "unknown": 3}
_KNOWN = (
    "valid",
    "anomaly_counts",
    "anomalies",
    "unseen",
    "unseen_examples",
    "stats",
    "format_version",
    "source",
    "run_level",
    "run",
    "system",
    "nemesis",
)


class ResultsUnreadable(SplitbrainError, ValueError):
    """A results.json that is not what the checkers write; the message names the file."""


def _valid(value: Any) -> Valid | None:
    if value is True or value is False or value == "unknown":
        return value  # type: ignore[no-any-return]
    return None


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _examples(value: Any) -> list[Any]:
    if isinstance(value, list):
        return list(value)
    return [] if value is None else [value]


@dataclass(frozen=True)
class Results(Mapping[str, Any]):
    """One run's verdict and evidence. ``valid`` is None only for results that were never
    judged (a file without a verdict); every count is an int (a bool is not)."""

    valid: Valid | None
    anomaly_counts: Mapping[str, int] = field(default_factory=dict)
    anomalies: Mapping[str, list[Any]] = field(default_factory=dict)
    unseen: int = 0
    unseen_examples: list[Any] = field(default_factory=list)
    stats: Mapping[str, Any] = field(default_factory=dict)
    source: str | None = None
    format_version: int | None = None
    run_level: tuple[str, ...] = ()  # anomaly names added by run-level checks, not the history
    run: Mapping[str, Any] | None = None  # the run's availability figures (judge adds them)
    system: SystemDescription | None = None
    nemesis: Mapping[str, Any] | None = None  # the fault schedule that ran beside the plan
    extra: Mapping[str, Any] = field(default_factory=dict)  # keys this version does not know

    # -- reading and writing ---------------------------------------------------------------------

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Results:
        """Results from results.json's data (or ``check_history``'s); fields of the wrong type
        are read as absent, never raised on."""
        counts = {str(k): int_or(v, 0) for k, v in _mapping(data.get("anomaly_counts")).items()}
        anomalies = {str(k): _examples(v) for k, v in _mapping(data.get("anomalies")).items()}
        system = None
        if isinstance(data.get("system"), Mapping):
            try:
                system = SystemDescription.from_json(data["system"])
            except ValueError:
                system = None
        run = data.get("run")
        nemesis = data.get("nemesis")
        version = data.get("format_version")
        levels = data.get("run_level")
        return cls(
            valid=_valid(data.get("valid")),
            anomaly_counts=counts,
            anomalies=anomalies,
            unseen=int_or(data.get("unseen"), 0),
            unseen_examples=_examples(data.get("unseen_examples")),
            stats=_mapping(data.get("stats")),
            source=data["source"] if isinstance(data.get("source"), str) else None,
            format_version=int_or(version, 0) if version is not None else None,
            run_level=tuple(str(n) for n in levels) if isinstance(levels, list) else (),
            run=dict(run) if isinstance(run, Mapping) else None,
            system=system,
            nemesis=dict(nemesis) if isinstance(nemesis, Mapping) else None,
            extra={k: v for k, v in data.items() if k not in _KNOWN},
        )

    @classmethod
    def of(cls, value: Results | Mapping[str, Any] | None) -> Results:
        """``value`` as a record: a record as it is, results.json's data read (None: nothing
        judged)."""
        if isinstance(value, Results):
            return value
        return cls.from_json(value or {})

    @classmethod
    def read(cls, path: Path) -> Results | None:
        """The results.json at ``path``; None when there is none, or when it holds no JSON
        object (nothing a checker wrote: the history is to be checked again);
        :class:`ResultsUnreadable` naming the file when it is not JSON."""
        try:
            data = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, orjson.JSONDecodeError) as exc:
            raise ResultsUnreadable(
                f"{path}: not readable JSON ({exc}); fix or delete it, or re-run `splitbrain "
                "check` on the run"
            ) from None
        return cls.from_json(data) if isinstance(data, dict) else None

    def to_json(self) -> dict[str, Any]:
        """The results.json object (history-format.md keys first, in their order)."""
        data: dict[str, Any] = {
            "valid": self.valid,
            "anomaly_counts": dict(self.anomaly_counts),
            "anomalies": {k: list(v) for k, v in self.anomalies.items()},
            "unseen": self.unseen,
            "unseen_examples": list(self.unseen_examples),
            "stats": dict(self.stats),
        }
        if self.format_version is not None:
            data["format_version"] = self.format_version
        if self.source is not None:
            data["source"] = self.source
        if self.run_level:
            data["run_level"] = list(self.run_level)
        if self.run is not None:
            data["run"] = dict(self.run)
        if self.system is not None:
            data["system"] = self.system.to_json()
        if self.nemesis is not None:
            data["nemesis"] = dict(self.nemesis)
        return {**data, **self.extra}

    def write(self, path: Path) -> None:
        """Replace ``path`` with these results, atomically."""
        write_json(path, self.to_json())

    # -- the mapping view of the JSON form --------------------------------------------------------

    @cached_property
    def _json(self) -> dict[str, Any]:
        return self.to_json()

    def __getitem__(self, key: str) -> Any:
        return self._json[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._json)

    def __len__(self) -> int:
        return len(self._json)

    # -- what callers ask -------------------------------------------------------------------------

    @property
    def exit_code(self) -> int:
        """``check``'s exit code: 0 valid, 1 anomalies, 3 unknown (2 is for unreadable input,
        and for results that were never judged)."""
        return EXIT_CODES.get(self.valid, 2) if self.valid is not None else 2

    @property
    def availability(self) -> float | None:
        """``stats.availability``: ok sends over all send attempts."""
        return number_or(self.stats.get("availability"), None)

    def count(self, name: str) -> int:
        return self.anomaly_counts.get(name, 0)

    def found(self) -> dict[str, int]:
        """The anomaly counts above 0, in the order the checkers gave them."""
        return {name: n for name, n in self.anomaly_counts.items() if n > 0}

    def examples(self, name: str) -> list[Any]:
        return list(self.anomalies.get(name, ()))

    def anomaly_names(self) -> list[str]:
        """Every anomaly named by a count or by examples, counts' order first."""
        return list(dict.fromkeys([*self.anomaly_counts, *self.anomalies]))

    def with_run_finding(self, name: str, count: int, examples: list[Any]) -> Results:
        """These results with the run-level anomaly ``name`` added (its count always, its
        examples when there are some); ``valid`` becomes false when ``count`` is above 0."""
        anomalies = dict(self.anomalies)
        if count:
            anomalies[name] = list(examples)
        return dataclasses.replace(
            self,
            valid=False if count else self.valid,
            anomaly_counts={**self.anomaly_counts, name: count},
            anomalies=anomalies,
            run_level=tuple(dict.fromkeys([*self.run_level, name])),
        )

    def run_findings(self) -> dict[str, int]:
        """The run-level anomalies (name -> count) these results hold."""
        return {name: self.count(name) for name in self.run_level}

    def keeping_run_findings(self, earlier: Results) -> Results:
        """A re-check's results with the run-level findings of ``earlier`` kept (a re-check of
        the history cannot make them again). For an earlier file that does not mark its run-level
        findings, every anomaly the history's checkers no longer report counts as one."""
        names = earlier.run_level or tuple(
            n for n in earlier.anomaly_counts if n not in self.anomaly_counts
        )
        kept = self
        for name in names:
            kept = kept.with_run_finding(name, earlier.count(name), earlier.examples(name))
        if earlier.run is not None and kept.run is None:
            kept = dataclasses.replace(kept, run=earlier.run)
        if earlier.system is not None and kept.system is None:
            kept = dataclasses.replace(kept, system=earlier.system)
        if earlier.nemesis is not None and kept.nemesis is None:
            kept = dataclasses.replace(kept, nemesis=earlier.nemesis)
        return kept

    def with_run(
        self,
        figures: Mapping[str, Any],
        system: SystemDescription | None,
        nemesis: Mapping[str, Any] | None = None,
    ) -> Results:
        """These results with the run's figures, its system and what of its fault schedule ran."""
        return dataclasses.replace(self, run=dict(figures), system=system, nemesis=nemesis)
