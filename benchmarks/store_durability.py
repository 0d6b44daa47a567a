"""What durability costs the reference store, and what lazyfs costs on top.

Run: ``.venv/bin/python benchmarks/store_durability.py [--saves 2000]``

Times ``--saves`` one-entry appends, each a ``Store.save_entries`` and its own ``Store.commit``
(a turn of a node's loop with one append), in four setups and prints saves/s with the ratio
against the baseline measured in the same run, the store with ``--bug ack-before-fsync``
(``synchronous=OFF``) on the plain disk:

- ``ack-before-fsync`` / ``durable`` on the plain disk (a temp directory): the cost of fsyncing
  the WAL on every save, which the default store now pays;
- the same two on a lazyfs mount (skipped with a note when FUSE is missing): what running a node's
  data directory through the power-loss filesystem adds.

Prints one JSON object; nothing is written elsewhere.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nemesis.lazyfs import missing_requirements, mount
from system_under_test.records import MSG, Entry
from system_under_test.store import Store


def saves_per_second(folder: Path, durable: bool, saves: int) -> float:
    store = Store(folder / f"bench-{durable}.sqlite", durable=durable)
    entry = Entry(1, MSG, {"id": "m", "conv": "g1", "seq": 1, "bodies": {"u2": "x" * 300}})
    start = time.perf_counter()
    for i in range(saves):
        store.save_entries(i + 1, [entry])
        store.commit()
    elapsed = time.perf_counter() - start
    store.close()
    return saves / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--saves", type=int, default=2000)
    args = parser.parse_args()
    results: dict[str, object] = {"saves": args.saves}
    with tempfile.TemporaryDirectory(prefix="store-bench-") as tmp:
        disk = Path(tmp) / "plain"
        disk.mkdir()
        base = saves_per_second(disk, False, args.saves)
        rows = {"plain ack-before-fsync": base}
        rows["plain durable"] = saves_per_second(disk, True, args.saves)
        missing = missing_requirements()
        if missing:
            results["lazyfs"] = f"skipped: missing {'; '.join(missing)}"
        else:
            with mount(Path(tmp) / "backing", Path(tmp) / "mnt") as fs:
                rows["lazyfs ack-before-fsync"] = saves_per_second(fs.mountpoint, False, args.saves)
                rows["lazyfs durable"] = saves_per_second(fs.mountpoint, True, args.saves)
    results["saves_per_s"] = {name: round(rate) for name, rate in rows.items()}
    results["ratio_to_plain_ack_before_fsync"] = {
        name: round(rate / base, 3) for name, rate in rows.items()
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
