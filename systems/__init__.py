"""Messaging systems under test behind one seam (:mod:`systems.seam`), found by name through
:mod:`systems.registry`. The harness imports only those two modules."""
