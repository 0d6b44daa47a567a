"""Named options as users spell them: parsing ``a,b,c`` lists and listing the choices.

Pure; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def listing(options: Mapping[str, str]) -> str:
    """``"a: what a does; b: what b does"``, for error messages."""
    return "; ".join(f"{name}: {text}" for name, text in options.items())


def parse_names(
    text: str | Iterable[str], options: Mapping[str, str], what: str
) -> tuple[str, ...]:
    """The names in ``text`` (comma-separated, or already a list), in order, without repeats or
    blanks; ``ValueError`` listing every valid ``what`` with its description on an unknown one."""
    names = text.split(",") if isinstance(text, str) else list(text)
    chosen: list[str] = []
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        if name not in options:
            raise ValueError(f"unknown {what} {name!r}; valid {what}s are: {listing(options)}")
        if name not in chosen:
            chosen.append(name)
    return tuple(chosen)
