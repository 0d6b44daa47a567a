"""The confidentiality check: did any plaintext a client sent, or its SHA-256, reach a file?

After a run, every file the cluster and the harness wrote (node stores and their ``-wal`` files,
node logs, the proxy log, the history, the report) is scanned for every body the clients sent:
raw, base64 (in any of the three alignments, so a body inside a longer base64 string is found
too) and as the hex SHA-256 digest (the unkeyed hash a server must not keep). Every hit is a
finding of the run-level anomaly ``leaked`` (docs/history-format.md).

Pure apart from reading the files: :func:`scan_for_leaks` takes paths and bodies and returns
findings; the run loop decides where they go. Bodies shorter than MIN_PATTERN bytes are looked
for only as their digest, since a short raw string (``yes``) would match ordinary text.

The history itself holds the digests of sent bodies by design (``digest`` of history-format.md):
pass it with ``digests_allowed=True`` so only raw and base64 plaintext count there.
"""

from __future__ import annotations

import base64
import mmap
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checkers.findings import example
from harness.results import Results
from splitbrain.messages import digest

MIN_PATTERN = 12  # bytes: shorter raw or base64 forms are not searched (digest only)
PREFIX = 12  # candidate positions are found by a trie of this many leading bytes


@dataclass(frozen=True)
class Leak:
    """One place where a body, or its digest, is found: ``form`` is raw, base64 or sha256."""

    file: str
    offset: int
    form: str
    msg_id: str

    def example(self) -> dict[str, Any]:
        why = (
            f"the {self.form} form of message {self.msg_id}'s body is in {self.file} "
            f"at byte {self.offset}"
        )
        return example([self.msg_id], [], [], why, file=self.file, offset=self.offset,
                       form=self.form)  # fmt: skip


@dataclass(frozen=True)
class Patterns:
    """What to look for: byte strings, each naming its message and form, and a candidate
    regex (a trie of their first PREFIX bytes, matched at every position)."""

    by_prefix: Mapping[bytes, tuple[tuple[bytes, str, str], ...]]
    regex: re.Pattern[bytes] | None


def base64_forms(body: bytes) -> list[bytes]:
    """The base64 text ``body`` shows as, standing alone and at each alignment inside a longer
    encoded string (the characters that depend on the body's bytes alone)."""
    forms = [base64.b64encode(body)]
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + body)
        start = 4 if shift else 0
        end = (shift + len(body)) // 3 * 4
        forms.append(encoded[start:end])
    return [f for f in dict.fromkeys(forms) if len(f) >= MIN_PATTERN]


def patterns_for(bodies: Mapping[str, bytes], *, digests: bool = True) -> Patterns:
    """Every form of every body to look for (``digests``: also the SHA-256 in hex)."""
    found: dict[bytes, list[tuple[bytes, str, str]]] = {}

    def add(pattern: bytes, form: str, msg_id: str) -> None:
        found.setdefault(pattern[:PREFIX], []).append((pattern, form, msg_id))

    for msg_id, body in bodies.items():
        if len(body) >= MIN_PATTERN:
            add(body, "raw", msg_id)
            for form in base64_forms(body):
                add(form, "base64", msg_id)
        if digests:
            hexed = digest(body).encode()
            add(hexed, "sha256", msg_id)
            add(hexed.upper(), "sha256", msg_id)
    by_prefix = {k: tuple(dict.fromkeys(v)) for k, v in found.items()}
    return Patterns(by_prefix, _trie_regex(list(by_prefix)) if by_prefix else None)


def _trie_regex(prefixes: list[bytes]) -> re.Pattern[bytes]:
    trie: dict = {}
    for prefix in prefixes:
        node = trie
        for byte in prefix:
            node = node.setdefault(byte, {})
        node[-1] = {}

    def build(node: dict) -> bytes:
        alts = [re.escape(bytes([b])) + build(child) for b, child in sorted(node.items()) if b >= 0]
        if not alts:
            return b""
        group = alts[0] if len(alts) == 1 else b"(?:" + b"|".join(alts) + b")"
        return b"(?:" + group + b")?" if -1 in node else group

    return re.compile(b"(?=" + build(trie) + b")", re.DOTALL)


def scan_bytes(data: bytes | mmap.mmap, name: str, patterns: Patterns) -> list[Leak]:
    """Every hit of ``patterns`` in ``data`` (overlapping hits too), in file order."""
    if patterns.regex is None:
        return []
    leaks: list[Leak] = []
    for match in patterns.regex.finditer(data):
        at = match.start()
        for pattern, form, msg_id in patterns.by_prefix.get(data[at : at + PREFIX], ()):
            if data[at : at + len(pattern)] == pattern:
                leaks.append(Leak(name, at, form, msg_id))
    return leaks


def scan_for_leaks(
    files: Iterable[Path],
    bodies: Mapping[str, bytes],
    *,
    digests_allowed: Iterable[Path] = (),
) -> list[Leak]:
    """Every place in ``files`` where a body of ``bodies`` (message id -> plaintext) shows, raw,
    base64 or as its SHA-256 hex digest; digests are not looked for in ``digests_allowed`` (the
    history, which records them by design). Missing files are skipped (a node that never
    started has no store); other OS errors propagate."""
    allowed = {Path(p) for p in digests_allowed}
    everything = patterns_for(bodies)
    no_digests = patterns_for(bodies, digests=False) if allowed else everything
    leaks: list[Leak] = []
    for path in files:
        path = Path(path)
        try:
            with path.open("rb") as handle:
                if path.stat().st_size == 0:
                    continue
                with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                    chosen = no_digests if path in allowed else everything
                    leaks.extend(scan_bytes(data, str(path), chosen))
        except FileNotFoundError:
            continue
    return leaks


HARNESS_FILES = ("history.jsonl", "results.json", "report.html", "test.json", "shrink.json")
KEY_FILES = ("users.json", "secrets.json", "cluster.secret")


def run_files(run_dir: Path) -> tuple[list[Path], list[Path]]:
    """The files of a run directory to scan, and those of them where digests are allowed (what
    the harness writes, whose history records digests by design): every regular file under it
    (stores, -wal files, node logs, the proxy log, history, report) except the key files."""
    files = sorted(p for p in run_dir.rglob("*") if p.is_file() and p.name not in KEY_FILES)
    return files, [p for p in files if p.name in HARNESS_FILES]


def leaked_results(leaks: list[Leak], max_examples: int = 10) -> dict[str, Any]:
    """The run-level ``leaked`` entry for results.json: the count of distinct (message, file,
    form) leaks and up to ``max_examples`` examples, the first hit of each."""
    first: dict[tuple[str, str, str], Leak] = {}
    for leak in leaks:
        first.setdefault((leak.msg_id, leak.file, leak.form), leak)
    return {
        "count": len(first),
        "examples": [leak.example() for leak in list(first.values())[:max_examples]],
    }


def with_leaked(results: Results, leaks: list[Leak], max_examples: int = 10) -> Results:
    """``results`` with the run-level anomaly ``leaked`` added: its count in ``anomaly_counts``,
    its examples in ``anomalies`` (only when there are some) and ``valid`` false when the count
    is above 0 (see :meth:`harness.results.Results.with_run_finding`)."""
    leaked = leaked_results(leaks, max_examples)
    return results.with_run_finding("leaked", leaked["count"], leaked["examples"])
