"""The confidentiality scanner fires on planted plaintexts and digests, and stays quiet on the
files of a real cluster that carried real end-to-end encrypted traffic."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import sqlite3

from harness.confidentiality import (
    leaked_results,
    run_files,
    scan_for_leaks,
    with_leaked,
)
from harness.results import Results
from splitbrain.ports import free_port_block
from system_under_test.client import ChatClient, Delivery
from system_under_test.launcher import LocalCluster, local_specs, provision_users

BODIES = {f"m{i}": f"m{i} {i * 7919:016x}".encode() for i in range(200)}


def test_fires_on_each_form_at_any_alignment_and_names_file_and_offset(tmp_path):
    body = BODIES["m42"]
    log = tmp_path / "n1.log"
    inside = base64.b64encode(b"xy" + body + b"z")  # inside a longer base64 string
    log.write_bytes(b"noise " + body + b" more " + inside + b"\n")
    digest = hashlib.sha256(BODIES["m7"]).hexdigest()
    store = tmp_path / "n1.sqlite"
    db = sqlite3.connect(store)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE log (data BLOB)")
    db.execute("INSERT INTO log VALUES (?)", (f'{{"digest":"{digest}"}}'.encode(),))
    db.commit()  # the row sits in the -wal file until a checkpoint
    leaks = scan_for_leaks([log, store, tmp_path / "n1.sqlite-wal", tmp_path / "gone"], BODIES)
    found = {(leak.file.rsplit("/", 1)[-1], leak.form, leak.msg_id) for leak in leaks}
    assert ("n1.log", "raw", "m42") in found
    assert ("n1.log", "base64", "m42") in found
    assert ("n1.sqlite-wal", "sha256", "m7") in found
    raw = next(leak for leak in leaks if leak.form == "raw")
    assert raw.offset == len(b"noise ")
    results = leaked_results(leaks)
    assert results["count"] == len({(lk.msg_id, lk.file, lk.form) for lk in leaks}) >= 3
    assert results["examples"][0]["ids"] and "file" in results["examples"][0]
    db.close()


def test_digests_in_the_history_are_allowed_but_plaintext_is_not(tmp_path):
    history = tmp_path / "history.jsonl"
    digest = hashlib.sha256(BODIES["m1"]).hexdigest()
    history.write_text(f'{{"value": {{"digest": "{digest}"}}}}\n')
    files, allowed = run_files(tmp_path)
    assert scan_for_leaks(files, BODIES, digests_allowed=allowed) == []
    history.write_bytes(history.read_bytes() + BODIES["m3"] + b"\n")
    [leak] = scan_for_leaks(files, BODIES, digests_allowed=allowed)
    assert (leak.form, leak.msg_id) == ("raw", "m3")


def test_short_bodies_are_looked_for_only_as_their_digest(tmp_path):
    f = tmp_path / "n1.log"
    f.write_bytes(b"yes, the node said yes\n")
    assert scan_for_leaks([f], {"m": b"yes"}) == []
    f.write_bytes(hashlib.sha256(b"yes").hexdigest().encode())
    assert [leak.form for leak in scan_for_leaks([f], {"m": b"yes"})] == ["sha256"]


def test_quiet_on_the_files_of_a_real_cluster_after_real_traffic(tmp_path):
    keys, users, _ = provision_users(tmp_path, 3)
    cluster = LocalCluster(local_specs(3, tmp_path, users, base_port=free_port_block(3)))
    sent: dict[str, bytes] = {}
    got: list[Delivery] = []

    async def traffic() -> None:
        urls = cluster.urls()
        u1 = ChatClient("u1", keys.secrets["u1"], keys.directory, urls)
        u2 = ChatClient("u2", keys.secrets["u2"], keys.directory, urls, on_deliver=got.append)
        await u1.connect(["n2"])
        await u2.connect(["n3"])
        for i in range(60):
            body = f"secret-{i}-{i * 104729:012x}".encode()
            conv = "g1" if i % 2 else "d-u1-u2"
            await u1.send(f"c{i}", conv, body)
            sent[f"c{i}"] = body
        for _ in range(200):
            if len(got) >= 60:
                break
            await asyncio.sleep(0.05)
        await u1.close()
        await u2.close()

    cluster.start()
    try:
        cluster.wait_ready(30)
        asyncio.run(traffic())
    finally:
        cluster.stop()
    assert len(got) == 60 and {d.digest for d in got} == {
        hashlib.sha256(b).hexdigest() for b in sent.values()
    }
    files, allowed = run_files(tmp_path)
    assert any(f.name.endswith(".sqlite") for f in files) and any(f.suffix == ".log" for f in files)
    assert scan_for_leaks(files, sent, digests_allowed=allowed) == []


def test_a_leak_makes_the_run_invalid_and_adds_only_the_leaked_keys(tmp_path):
    results = Results.from_json(
        {"valid": True, "anomaly_counts": {"lost": 0}, "anomalies": {}, "unseen": 0}
    )
    quiet = with_leaked(results, [])
    assert quiet.to_json() == {
        **results.to_json(),
        "anomaly_counts": {"lost": 0, "leaked": 0},
        "run_level": ["leaked"],
    }
    (tmp_path / "n1.log").write_bytes(BODIES["m5"])
    leaked = with_leaked(results, scan_for_leaks([tmp_path / "n1.log"], BODIES))
    assert leaked["valid"] is False and leaked["anomaly_counts"]["leaked"] == 1
    assert leaked["anomalies"]["leaked"][0]["ids"] == ["m5"] and results["valid"] is True
