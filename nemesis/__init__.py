"""Faults: network (through Toxiproxy), process (kill, pause), and seeded schedules."""
