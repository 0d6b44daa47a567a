"""The harness: configuration, cluster backends, workload, recorder, run store, reports, CLI."""
