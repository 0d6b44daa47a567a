"""A schedule runs on time: no slow control call holds up a later step (issue 28).

Against a real Toxiproxy: a toxic whose removal waits on a destination that stopped reading does
not delay the steps after it (on other targets they take effect at once; on the same link the
step is recorded on time and ``info`` saying what it waits for), and over drawn schedules on a
healthy cluster every step starts within :data:`nemesis.ran.ON_TIME_S` of its planned time.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nemesis.faults import FAULT_KINDS
from nemesis.interface import Capabilities, proxy_name
from nemesis.profiles import PROFILES
from nemesis.proxies import ProxyControl, ToxiproxyNetwork
from nemesis.ran import ON_TIME_S, compare
from nemesis.runner import Nemesis
from nemesis.schedule import FaultStep, Schedule, draw_params
from nemesis.toxiproxy_server import ToxiproxyServer
from tests.helpers.link_proxies import cluster_links, link_proxies
from tests.helpers.nemesis_fakes import FakeWorld, History

NODES = ("n1", "n2", "n3")
GROUPS = ("c0", "c1")
LINKS = cluster_links(NODES, GROUPS)
STALLED = ("c0", "n1")


class StallingSink:
    """A TCP server that accepts and reads nothing until :meth:`release` (a destination that
    stopped reading, as a paused node does); then it reads everything."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.released = threading.Event()
        self.released_at: float | None = None
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.getsockname()[1]}"

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            conn, _ = self.server.accept()
            self.released.wait(30)
            while conn.recv(65536):
                pass

    def release(self) -> None:
        self.released_at = time.monotonic()
        self.released.set()

    def close(self) -> None:
        self.release()
        self.server.close()


def push_until_stuck(address: str, limit: float = 3.0) -> int:
    """Send through ``address`` until nothing more is taken for a while: every buffer on the
    way, the proxy's toxics included, then holds data for the stalled destination."""
    host, port = address.rsplit(":", 1)
    sent, end = 0, time.monotonic() + limit
    with socket.create_connection((host, int(port))) as sock:
        sock.settimeout(0.2)
        chunk = b"x" * 65536
        while time.monotonic() < end:
            try:
                sent += sock.send(chunk)
            except TimeoutError:
                break
        time.sleep(0.1)
    return sent


@pytest.fixture
def stalled(toxiproxy: ToxiproxyServer) -> Iterator[tuple[ProxyControl, StallingSink]]:
    """Every link of a 3-node, 2-group cluster; ``c0 -> n1`` leads to a stalling sink, the others
    to a closed port."""
    sink = StallingSink()
    with link_proxies(toxiproxy.url, LINKS, {STALLED: sink.address}, timeout=20.0) as pc:
        yield pc, sink
        sink.close()


def step(kind: str, at: float, duration: float, **params: Any) -> FaultStep:
    return FaultStep(at, kind, duration, params)


def test_a_slow_toxic_removal_does_not_delay_the_steps_after_it(
    stalled: tuple[ProxyControl, StallingSink],
) -> None:
    control, sink = stalled
    history, world = History(), FakeWorld(NODES, GROUPS)
    listen = control.list()[proxy_name(*STALLED)].listen
    pushed: list[int] = []

    def on_record(op: dict[str, Any]) -> None:
        if (op["f"], op["type"], op.get("step")) == ("latency", "ok", 0):
            threading.Thread(target=lambda: pushed.append(push_until_stuck(listen, 0.4))).start()

    history.on_record = on_record
    one_link = {"links": [list(STALLED)], "ms": 100, "jitter": 0}
    alone = {"shape": "one-alone", "groups": [["n3"], ["n1", "n2"]], "clients": {"c0": 1, "c1": 1}}
    schedule = Schedule(
        (
            step("latency", 0.0, 0.7, **one_link),
            step("kill", 0.9, 0.3, choose="random", node="n2"),
            step("partition", 1.1, 0.3, **alone),
            step("latency", 1.5, 0.3, **one_link),  # the same link: it waits, on time and said
        ),
        NODES,
        GROUPS,
        time_limit=2.0,
    )
    network = ToxiproxyNetwork(control)
    nemesis = Nemesis(world, network, history.record, clock=history.clock, bound=0.5)

    async def main() -> None:
        asyncio.get_running_loop().call_later(3.0, sink.release)
        await nemesis.run(schedule)
        assert await nemesis.heal_all() is True
        nemesis.close()

    asyncio.run(main())
    assert pushed and pushed[0] > 0
    ran = compare(schedule, history.ops)
    for run in ran.steps:
        assert run.start is not None and run.start.late_s is not None
        assert abs(run.start.late_s) <= ON_TIME_S, run.differences()
    clear = ran.steps[0].undo
    assert clear is not None and clear.outcome == "info"
    assert "not confirmed within 0.5 s: 1 of 1 still in progress: c0-n1" in (clear.error or "")
    for later in ran.steps[1:3]:  # other targets: in effect at once, undone on time
        assert later.differences() == [], later.differences()
        assert later.start and later.start.completed_s
        assert later.start.completed_s - later.start.invoked_s < ON_TIME_S
    same_link = ran.steps[3].start
    assert same_link is not None and same_link.outcome == "info"
    assert "waiting for the clear-latency of step 0 on it" in (same_link.error or "")
    # the stalled link was cleared only once its destination read again, by the final heal
    healed = [op for op in history.ops if op.get("step") is None and op["f"] == "clear-latency"]
    assert [op["type"] for op in healed] == ["invoke", "ok"]
    assert sink.released_at is not None
    assert all(op["value"]["links"] == [list(STALLED)] for op in healed)
    assert control.list()[proxy_name(*STALLED)].toxics == ()
    assert world.whole() and nemesis.in_effect.empty()


# --- a property over drawn schedules, on a healthy cluster ----------------------------------------


@pytest.fixture(scope="module")
def healthy(toxiproxy: ToxiproxyServer) -> Iterator[ProxyControl]:
    with link_proxies(toxiproxy.url, LINKS, timeout=5.0) as pc:
        yield pc


LIMIT = 1.5
CAPS = Capabilities(can_lose_power=True)


@st.composite
def dense_schedules(draw: st.DrawFn) -> Schedule:
    """Up to 6 faults of any kind in 1.5 s, overlapping freely (the same nodes and links too),
    each with params drawn as a profile draws them."""
    steps = []
    for _ in range(draw(st.integers(0, 6))):
        at = round(draw(st.floats(0.0, LIMIT - 0.3)), 3)
        duration = round(draw(st.floats(0.05, 0.3)), 3)
        kind = draw(st.sampled_from(sorted(FAULT_KINDS)))
        profile = PROFILES[draw(st.sampled_from(sorted(PROFILES)))]
        rng = random.Random(draw(st.integers(0, 2**32 - 1)))
        params = draw_params(kind, NODES, GROUPS, rng, "drop", (), profile, CAPS)
        steps.append(FaultStep(at, kind, duration, params))
    steps.sort(key=lambda s: s.at)
    return Schedule(tuple(steps), NODES, GROUPS, LIMIT, capabilities=CAPS)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(schedule=dense_schedules())
def test_on_a_healthy_cluster_every_step_starts_and_ends_on_time(
    healthy: ProxyControl, schedule: Schedule
) -> None:
    history = History()
    world = FakeWorld(NODES, GROUPS, primary="n2", call_time=0.002)
    nemesis = Nemesis(world, ToxiproxyNetwork(healthy), history.record, clock=history.clock)

    async def main() -> None:
        await nemesis.run(schedule)
        assert await nemesis.heal_all() is True
        nemesis.close()

    asyncio.run(main())
    ran = compare(schedule, history.ops)
    for run in ran.steps:
        assert run.start is not None and run.on_time(), run.differences()
        assert run.start.outcome == "ok", run.differences()
        if run.undo is None:  # an overlapping fault still held all it held
            assert run.why and "still held" in run.why
        else:
            assert run.undo.outcome == "ok" and run.undo.late_s is not None
            assert abs(run.undo.late_s) <= ON_TIME_S, run.differences()
    assert (
        world.whole()
        and healthy.list()
        and all(p.enabled and not p.toxics for p in healthy.list().values())
    )
