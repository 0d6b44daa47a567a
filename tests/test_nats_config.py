"""The NATS system's pure parts: options, the server config file, names, envelopes, statuses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from systems.nats import NatsSystem, install
from systems.nats.client import StreamPlan, client_conversations, plan_from
from systems.nats.config import (
    CLOSED_ADVERTISE,
    ServerOptions,
    envelope,
    open_envelope,
    parse_size,
    safe_token,
    server_config,
    stream_replicas,
)
from systems.nats.status import cluster_healthy, cluster_primary, parse_status, pick_primary
from systems.registry import create
from systems.seam import Accounts, NodeAddresses, SystemConfigError, describe, resolve_options

LISTING = (
    "github.com/nats-io/nats-server/v2 v2.9.25 v2.10.0-RC.1 v2.10.21 v2.10.22 v2.10.23 "
    "v2.12.1 v2.12.15 v2.15.0-preview.1 v2.15.3"
)


def node(tmp_path: Path, name: str = "n1") -> NodeAddresses:
    return NodeAddresses(
        name=name,
        bind_host="127.0.0.1",
        ports={"client": 4001, "cluster": 6001, "http": 8001},
        peers={"n3": "127.0.0.1:7103", "n2": "127.0.0.1:7102"},
        data_dir=tmp_path / "data",
        log=tmp_path / "node.log",
        run_dir=tmp_path,
        python="python3",
    )


def settings(**given: object) -> dict[str, object]:
    return resolve_options("nats", NatsSystem.options, given)


def test_defaults_are_the_documented_ones() -> None:
    s = settings()
    assert s["version"] == install.DEFAULT_VERSION
    assert s["sync_interval"] == "2m"
    assert s["replicas"] is None
    assert s["storage"] == "file"
    assert s["max_file_store"] is None


def test_options_are_parsed() -> None:
    s = settings(
        version="v2.10.22",
        sync_interval="ALWAYS",
        replicas="5",
        max_file_store="512MB",
        domain="none",
        redeliveries="Report",
    )
    assert s["version"] == "2.10.22"
    assert s["sync_interval"] == "always"
    assert s["replicas"] == 5
    assert s["max_file_store"] == 512 << 20
    assert s["domain"] is None
    assert s["redeliveries"] == "report"


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("sync_interval", "soon", "always"),
        ("replicas", "7", "1 to 5"),
        ("version", "2.x", "2.10.22"),
        ("version", "3.0.0", "2.x"),
        ("max_file_store", "lots", "512MB"),
        ("storage", "tape", "file, memory"),
    ],
)
def test_bad_option_values_name_the_option_and_what_is_allowed(
    name: str, value: str, words: str
) -> None:
    with pytest.raises(SystemConfigError, match=name) as caught:
        settings(**{name: value})
    assert words in str(caught.value)


def test_unknown_option_lists_the_known_ones() -> None:
    with pytest.raises(SystemConfigError, match="sync_interval"):
        create("nats", {"fsync": "always"})


def test_sizes() -> None:
    assert parse_size("1G") == 1 << 30
    assert parse_size("1024") == 1024
    assert parse_size("none") is None


@pytest.mark.parametrize(("nodes", "expected"), [(1, 1), (2, 2), (3, 3), (4, 3), (5, 5), (7, 5)])
def test_auto_replicas(nodes: int, expected: int) -> None:
    assert stream_replicas(None, nodes) == expected


def test_more_replicas_than_nodes_is_refused() -> None:
    with pytest.raises(SystemConfigError, match="needs at least 5 nodes"):
        stream_replicas(5, 3)


def test_config_routes_through_the_given_peers_and_never_advertises(tmp_path: Path) -> None:
    opts = ServerOptions("always", 1 << 30, None, "hub")
    text = server_config(node(tmp_path), opts)
    assert 'server_name: "n1"' in text
    assert 'listen: "127.0.0.1:4001"' in text
    assert 'http: "127.0.0.1:8001"' in text
    assert 'routes: ["nats-route://127.0.0.1:7102", "nats-route://127.0.0.1:7103"]' in text
    assert f'advertise: "{CLOSED_ADVERTISE}"' in text
    assert "no_advertise: true" in text
    assert f'store_dir: "{tmp_path / "data" / "jetstream"}"' in text
    assert 'sync_interval: "always"' in text
    assert f"max_file_store: {1 << 30}" in text
    assert "max_memory_store" not in text
    assert 'domain: "hub"' in text


def test_launch_writes_the_config_in_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPLITBRAIN_CACHE", str(tmp_path / "cache"))
    system = create("nats", {"version": "2.10.22"})
    system.binary.parent.mkdir(parents=True)
    system.binary.write_bytes(b"")  # launch() only checks that the build is there
    launch = system.launch(node(tmp_path))
    conf = tmp_path / "data" / "nats-server.conf"
    assert launch.argv == (str(system.binary), "--config", str(conf))
    assert b"cluster {" in launch.files[conf]
    assert launch.host_paths == (system.binary,)


def test_launch_without_the_binary_says_how_to_build_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPLITBRAIN_CACHE", str(tmp_path / "empty-cache"))
    system = create("nats", {"version": "2.10.22"})
    with pytest.raises(SystemConfigError, match=r"scripts/install-nats\.sh 2\.10\.22"):
        system.launch(node(tmp_path))


def test_describe_records_version_and_every_server_option(tmp_path: Path) -> None:
    options = {"version": "2.12.15", "sync_interval": "always", "max_file_store": "1G"}
    system = create("nats", options)
    system.provision(Accounts(("u1", "u2"), {"c": ("u1", "u2")}), tmp_path, ["n1", "n2", "n3"], 1)
    described = describe(system)
    assert (described.name, described.version) == ("nats", "2.12.15")
    assert described.details["server"]["jetstream"]["sync_interval"] == "always"
    assert described.details["server"]["jetstream"]["max_file_store"] == 1 << 30
    assert described.details["streams"]["replicas"] == 3
    assert described.options == {
        "version": "2.12.15",
        "sync_interval": "always",
        "max_file_store": 1 << 30,
    }
    assert (tmp_path / "nats-plan.json").is_file()


@given(st.text(max_size=12), st.text(max_size=12))
def test_safe_tokens_are_names_and_never_collide(a: str, b: str) -> None:
    assert re.fullmatch(r"[A-Za-z0-9_-]*", safe_token(a))
    assert (safe_token(a) == safe_token(b)) == (a == b)


@given(st.text(min_size=1, max_size=20), st.binary(max_size=200))
def test_envelope_round_trips_any_body(sender: str, body: bytes) -> None:
    assert open_envelope(envelope("m1", sender, "c", body)) == ("m1", sender, "c", body)


def test_a_foreign_message_is_not_an_envelope() -> None:
    with pytest.raises(ValueError, match="not a splitbrain envelope"):
        open_envelope(b"hello")


def jsz(meta_leader: str | None, leaders: dict[str, str]) -> dict[str, object]:
    streams = [{"name": s, "cluster": {"leader": n}} for s, n in leaders.items()]
    return {
        "streams": len(streams),
        "meta_cluster": {"leader": meta_leader, "cluster_size": 3},
        "account_details": [{"name": "$G", "stream_detail": streams}],
    }


def test_status_names_the_node_leading_most_streams_as_primary() -> None:
    status = parse_status(
        {"server_name": "n2", "version": "2.15.3"},
        jsz("n1", {"conv-a": "n2", "conv-b": "n2", "conv-c": "n3"}),
    )
    assert status["ready"] is True
    assert status["primary"] == "n2"
    assert status["role"] == "primary"
    assert status["meta_leader"] == "n1"


def test_a_node_without_a_meta_leader_is_not_ready() -> None:
    status = parse_status({"server_name": "n1"}, jsz(None, {}))
    assert status["ready"] is False
    assert status["primary"] is None


def test_primary_ties_go_to_the_meta_leader_then_the_first_name() -> None:
    assert pick_primary({"a": "n3", "b": "n2"}, "n2") == "n2"
    assert pick_primary({"a": "n3", "b": "n2"}, "n1") == "n2"
    assert pick_primary({}, "n1") == "n1"


def test_cluster_health_and_primary_vote() -> None:
    ok = {n: parse_status({"server_name": n}, jsz("n1", {"a": "n2"})) for n in ("n1", "n2")}
    assert cluster_healthy(ok)
    assert cluster_primary(ok) == "n2"
    assert not cluster_healthy({**ok, "n3": None})
    split = {**ok, "n3": parse_status({"server_name": "n3"}, jsz("n3", {}))}
    assert not cluster_healthy(split)
    assert cluster_primary(split) == "n2"


def test_stable_versions_drop_prereleases_and_sort() -> None:
    versions = install.stable_versions(LISTING)
    assert versions == ["2.9.25", "2.10.21", "2.10.22", "2.10.23", "2.12.1", "2.12.15", "2.15.3"]


def test_unknown_version_message_lists_same_minor_and_newest() -> None:
    text = install.unknown_version_message("2.10.99", install.stable_versions(LISTING))
    assert "2.10.99 is not published" in text
    assert "Releases of 2.10.x: 2.10.21, 2.10.22, 2.10.23." in text
    assert "2.9.25, 2.10.23, 2.12.15, 2.15.3" in text


def test_extra_config_is_appended_and_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPLITBRAIN_CACHE", str(tmp_path / "cache"))
    extra = tmp_path / "mine.conf"
    extra.write_text("write_deadline: 5s\n")
    system = create("nats", {"version": "2.10.22", "extra_config": str(extra)})
    system.binary.parent.mkdir(parents=True)
    system.binary.write_bytes(b"")
    launch = system.launch(node(tmp_path))
    text = next(iter(launch.files.values())).decode()
    assert text.rstrip().endswith("write_deadline: 5s")
    assert text.index("cluster {") < text.index("write_deadline")
    assert describe(system).details["server"]["extra_config"] == "write_deadline: 5s\n"


def test_unreadable_extra_config_names_the_path(tmp_path: Path) -> None:
    system = create("nats", {"extra_config": str(tmp_path / "missing.conf")})
    with pytest.raises(SystemConfigError, match=r"missing\.conf"):
        describe(system)


def test_stream_and_consumer_plans() -> None:
    plan = plan_from(settings(storage="memory", duplicate_window="120"), replicas=5)
    assert plan == StreamPlan(replicas=5, storage="memory", duplicate_window=120.0)
    stream = plan.stream_config("g 1")
    assert (stream.name, stream.subjects, stream.num_replicas) == ("conv-g_201", ["chat.g_201"], 5)
    assert stream.as_dict()["duplicate_window"] == 120 * 10**9
    consumer = plan.consumer_config("u.1")
    assert consumer.durable_name == "user-u_2e1"
    assert consumer.as_dict()["ack_policy"] == "explicit"
    convs = {"g": ("u1", "u2", "u3"), "d": ("u2", "u3")}
    assert client_conversations("u1", convs) == {"g": ("u1", "u2", "u3")}
