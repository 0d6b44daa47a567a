"""Pure functions from a history to findings; no I/O beyond reading the history."""
