"""The root of the errors splitbrain raises on purpose.

Every error that reaches a user is a :class:`SplitbrainError` (bad settings, an unreadable
history, a backend that cannot start, ...): its message names what is wrong (the file, the line,
the setting) and what to do next, so the command line prints it as it is and exits 2. Anything
else that escapes is a bug. Outcomes of a system under test (a refused or indeterminate send) are
not errors of the project and do not derive from it.
"""

from __future__ import annotations


class SplitbrainError(Exception):
    """An error the project raises on purpose; the message is for the user, as it stands."""
