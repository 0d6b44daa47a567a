"""Systems by name. The harness finds a system here and never imports one directly, so adding a
system is one new module and one line below."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from systems.seam import Option, Shortcut, System, SystemConfigError, resolve_options

SYSTEMS: Mapping[str, str] = {
    "reference": "systems.reference:ReferenceSystem",
    "nats": "systems.nats:NatsSystem",
}
DEFAULT = "reference"


def names() -> tuple[str, ...]:
    return tuple(SYSTEMS)


def system_class(name: str) -> type[System]:
    """The class of system ``name``; :class:`SystemConfigError` listing the systems otherwise."""
    try:
        target = SYSTEMS[name]
    except KeyError:
        raise SystemConfigError(
            f"unknown system {name!r}; the systems are: {', '.join(SYSTEMS)}"
        ) from None
    module, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except ModuleNotFoundError as exc:
        raise SystemConfigError(
            f"system {name!r} cannot be loaded: {exc}; run `bash scripts/setup.sh` to install "
            "what it needs"
        ) from None


def create(name: str, options: Mapping[str, Any]) -> System:
    """System ``name`` set up with ``options`` (parsed and checked against its declaration)."""
    cls = system_class(name)
    settings = resolve_options(name, cls.options, options)
    return cls(settings)  # type: ignore[call-arg]


def declared_options(name: str) -> tuple[Option, ...]:
    """The options system ``name`` declares; () for a system this installation does not know
    (a stored run from elsewhere)."""
    try:
        return system_class(name).options
    except SystemConfigError:
        return ()


def shortcuts() -> list[tuple[str, Shortcut]]:
    """Every system's own flags, as (system name, shortcut), for the command line; systems that
    cannot be loaded here offer none (choosing one says what to install)."""
    found = []
    for name in SYSTEMS:
        try:
            cls = system_class(name)
        except SystemConfigError:
            continue
        found += [(name, shortcut) for shortcut in cls.shortcuts]
    return found


def options_help(name: str) -> str:
    """The options of system ``name``, one per line, for ``run --system NAME --help``."""
    cls = system_class(name)
    lines = [f"system {name}: {cls.description}", "options (--system-opt NAME=VALUE):"]
    for option in cls.options:
        choices = f" [{'|'.join(str(c) for c in option.choices)}]" if option.choices else ""
        lines.append(f"  {option.name:<16} {option.help}{choices} (default: {option.default})")
    if cls.shortcuts:
        lines.append("its own flags:")
        for shortcut in cls.shortcuts:
            vary = (
                f"; compare {shortcut.vary_flag} {shortcut.vary_metavar}"
                if shortcut.vary_flag
                else ""
            )
            lines.append(
                f"  {shortcut.run_flag} VALUE   is --system-opt {shortcut.option}=VALUE{vary}"
            )
    return "\n".join(lines)
