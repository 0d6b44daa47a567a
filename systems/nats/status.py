"""A node's status from its HTTP monitoring port (``/varz`` and ``/jsz``), and what the cluster's
statuses say together. The parsing is pure; :func:`fetch_status` is the only I/O.

A status is ``{"ready", "node", "version", "meta_leader", "meta_size", "streams",
"stream_leaders", "primary", "role"}``. ``ready`` means JetStream runs and this node knows a
meta leader (the Raft group that creates streams and consumers), i.e. it can serve a client.

The primary: the JetStream meta leader only places streams and consumers; every stream has its own
Raft leader that orders its messages, which is the node a send and a delivery really depend on.
A fault aimed at "the primary" should hit that write path, so ``primary`` is the node leading
the most streams (ties go to the meta leader, then to the first name), and before any stream
exists it is the meta leader. Each node computes it from the streams it hosts; the cluster's
primary is the one most nodes name.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Mapping
from typing import Any

JSZ_QUERY = "/jsz?accounts=true&streams=true"


def stream_leaders(jsz: Mapping[str, Any]) -> dict[str, str]:
    """Stream name -> the node leading it, for every stream this node hosts that has a leader."""
    leaders: dict[str, str] = {}
    for account in jsz.get("account_details") or ():
        for stream in account.get("stream_detail") or ():
            leader = (stream.get("cluster") or {}).get("leader")
            if leader:
                leaders[stream["name"]] = leader
    return leaders


def pick_primary(leaders: Mapping[str, str], meta_leader: str | None) -> str | None:
    """The node leading the most streams; ties to the meta leader, then the first name."""
    if not leaders:
        return meta_leader
    counts = Counter(leaders.values())
    top = max(counts.values())
    tied = sorted(node for node, count in counts.items() if count == top)
    return meta_leader if meta_leader in tied else tied[0]


def parse_status(varz: Mapping[str, Any], jsz: Mapping[str, Any]) -> dict[str, Any]:
    """The status of one node from its ``/varz`` and ``/jsz`` answers."""
    node = varz.get("server_name") or varz.get("server_id")
    meta = jsz.get("meta_cluster") or {}
    meta_leader = meta.get("leader") or None
    leaders = stream_leaders(jsz)
    primary = pick_primary(leaders, meta_leader)
    return {
        "ready": bool(not jsz.get("disabled") and meta_leader),
        "node": node,
        "version": varz.get("version"),
        "meta_leader": meta_leader,
        "meta_size": meta.get("cluster_size"),
        "streams": jsz.get("streams", 0),
        "stream_leaders": leaders,
        "primary": primary,
        "role": "primary" if primary is not None and primary == node else "replica",
    }


def _get_json(url: str, timeout: float) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return json.loads(answer.read())


def fetch_status(host: str, port: int, timeout: float) -> dict[str, Any] | None:
    """The status of the node monitored at ``host:port``, or None when it does not answer."""
    base = f"http://{host}:{port}"
    try:
        varz = _get_json(base + "/varz", timeout)
        jsz = _get_json(base + JSZ_QUERY, timeout)
    except (OSError, urllib.error.URLError, ValueError):
        return None
    return parse_status(varz, jsz)


def cluster_healthy(statuses: Mapping[str, dict[str, Any] | None]) -> bool:
    """Every node answers ready and all name the same meta leader."""
    if not statuses or any(s is None or not s.get("ready") for s in statuses.values()):
        return False
    leaders = {s["meta_leader"] for s in statuses.values() if s}
    return len(leaders) == 1


def cluster_primary(statuses: Mapping[str, dict[str, Any] | None]) -> str | None:
    """The primary most answering nodes name (the first name among equals), or None."""
    votes = Counter(s["primary"] for s in statuses.values() if s and s.get("primary"))
    if not votes:
        return None
    top = max(votes.values())
    return min(node for node, count in votes.items() if count == top)
