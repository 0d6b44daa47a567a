"""The subcommands of ``splitbrain``, one module each, thin: parse, call, print, exit code."""
