"""Shared test helpers: strategies, builders and stand-ins imported by test modules (no tests)."""
