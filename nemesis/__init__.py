"""Faults: seeded schedules of network, process and disk faults, run on time against a cluster.

The parts, top down:

- :mod:`nemesis.schedule` draws a seeded :class:`~nemesis.schedule.Schedule` from a profile
  (:mod:`nemesis.profiles`) and validates a stored one; :mod:`nemesis.search` draws them with
  Hypothesis. :mod:`nemesis.runner` runs one against a cluster and records every fault in the
  history; :mod:`nemesis.ran` reads back what ran against what was planned.
- Each fault kind is one unit in :mod:`nemesis.kinds` (a :class:`~nemesis.kind.FaultKind`),
  registered in :mod:`nemesis.faults`. The schedule and the runner only look kinds up.
- A kind acts through :mod:`nemesis.interface`: a :class:`~nemesis.interface.Target` for
  processes, a :class:`~nemesis.interface.NetworkControl` for links (Toxiproxy's is
  :class:`nemesis.proxies.ToxiproxyNetwork`), and reads what the system allows from
  :class:`~nemesis.interface.Capabilities`. The backend picks the network control.

Adding a fault kind (say ``bitflip``):

1. Write ``nemesis/kinds/bitflip.py`` with one :class:`~nemesis.kind.FaultKind` subclass: its
   ``name``, ``description``, ``start_f`` (the history ``f`` of its start), report ``colour`` and
   ``label``, and its ``effect`` (what it leaves until undone, with the undo: reuse
   :data:`nemesis.kinds.kill.KILLED` for a fault that leaves nodes down until a restart, or
   declare a new :class:`~nemesis.kind.Effect`). Then its methods: ``lacks`` (what it needs of
   the system, from :class:`~nemesis.interface.Capabilities`), ``draw`` (its params from the
   step's ``rng``; :meth:`~nemesis.kind.DrawContext.run_rng` for a choice fixed for the whole
   run, such as the minority of nodes whose disks it damages), ``check``, ``words`` and
   ``begin`` (the items it holds and the blocking call that starts it on one item). A kind aimed
   at nodes can subclass :class:`nemesis.kinds.aimed.NodeFault` and write only ``act``.
2. Add an instance to ``_KINDS`` in :mod:`nemesis.faults`. ``--nemesis bitflip`` then works, and
   ``--help``, the schedule, the runner, the report and ``shrink`` know it; a profile draws it
   once the profile gives it a weight (:mod:`nemesis.profiles`).
3. If it needs something no :class:`~nemesis.interface.Target` offers (a disk to damage),
   declare that as a protocol in :mod:`nemesis.interface` that backends may implement (as
   :class:`~nemesis.interface.PowerLossTarget` is for ``power-loss``), and a capability the
   system or the backend declares.

``tests/test_nemesis_kinds.py`` draws, checks, starts and undoes every registered kind against
a fake target and network, so a new kind is tested the day it is registered.
"""
