"""One module per fault kind, each a :class:`nemesis.kind.FaultKind`; :mod:`nemesis.faults`
registers them. :mod:`nemesis.kinds.aimed` is what the kinds that hit nodes share."""
