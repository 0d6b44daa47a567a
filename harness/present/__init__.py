"""Presentation: the report, the timeline, the verdict table, comparisons, JUnit; pure where the
logic allows (objects in, text out)."""
