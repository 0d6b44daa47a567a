"""Cluster backends: where the nodes and the Toxiproxy server run (local processes or Docker)."""
