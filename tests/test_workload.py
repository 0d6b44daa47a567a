"""The workload plan: a pure function of the configuration, within its bounds."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from harness.config import RunConfig
from harness.driver import timeline
from harness.workload import (
    AllBut,
    OfflineWindow,
    PlannedSend,
    collide_ids,
    history_id,
    plan_workload,
)

fault_times = st.lists(st.floats(0, 20), max_size=4).map(tuple)

configs = st.builds(
    RunConfig,
    payload_sizes=st.lists(st.integers(16, 5000), min_size=1, max_size=3).map(tuple),
    colliding_ids=st.floats(0, 0.5),
    burst=st.floats(1, 5),
    seed=st.integers(0, 10**6),
    clients=st.integers(2, 40),
    rate=st.floats(1, 50),
    time_limit=st.floats(1, 20),
    groups=st.integers(0, 4),
    direct_chats=st.integers(1, 6),
    client_groups=st.integers(1, 4),
    offline_fraction=st.floats(0, 1),
)


@given(configs)
def test_same_config_same_plan(config: RunConfig) -> None:
    assert plan_workload(config) == plan_workload(config)


@given(configs, fault_times)
def test_every_send_is_by_a_member_and_ids_are_unique(
    config: RunConfig, faults: tuple[float, ...]
) -> None:
    plan = plan_workload(config, faults)
    ids = [s.msg_id for s in plan.sends]
    assert len(ids) == len(set(ids))
    for send in plan.sends:
        assert send.user in plan.conversations[send.conv]
        assert 0 <= send.at < config.time_limit
        assert history_id(send.system_id, send.user) == send.msg_id
        assert len(send.body) == max(send.size, len(send.msg_id) + 1)
        assert send.size in config.payload_sizes
    assert [s.at for s in plan.sends] == sorted(s.at for s in plan.sends)


@given(configs)
def test_conversations_have_two_or_more_distinct_members(config: RunConfig) -> None:
    plan = plan_workload(config)
    for members in plan.conversations.values():
        assert len(members) >= 2
        assert len(set(members)) == len(members)
        assert set(members) <= set(plan.users)
    assert set(plan.client_group.values()) <= {f"c{i}" for i in range(config.client_groups)}


@given(configs)
def test_offline_windows_stay_inside_the_run(config: RunConfig) -> None:
    for window in plan_workload(config).offline:
        assert window.duration > 0
        assert window.start >= 0 and window.start + window.duration <= config.time_limit


def test_colliding_sends_reuse_another_senders_id_on_the_wire() -> None:
    config = RunConfig(colliding_ids=0.1, rate=40, time_limit=10, clients=6)
    plan = plan_workload(config)
    by_id = {s.msg_id: s for s in plan.sends}
    colliding = [s for s in plan.sends if s.wire_id]
    assert len(colliding) >= 0.05 * len(plan.sends)
    for send in colliding:
        assert send.msg_id == f"{send.wire_id}~{send.user}"
        assert by_id[send.wire_id].user != send.user  # the id another sender really uses
    assert not [s for s in plan_workload(RunConfig(colliding_ids=0)).sends if s.wire_id]


@given(
    st.lists(st.sampled_from("abcd"), max_size=60),
    st.lists(st.integers(0, 59), unique=True).map(sorted),
)
def test_all_but_is_the_list_without_the_skipped_positions(users: list[str], skip: list[int]):
    skip = [k for k in skip if k < len(users)]
    view = AllBut(users, skip)
    assert list(view) == [u for k, u in enumerate(users) if k not in set(skip)]


def reference_collisions(seed: int, sends: tuple[PlannedSend, ...], share: float) -> list:
    """What collide_ids drew before it was made linear: a pass over every send per draw."""
    rng = random.Random(seed)
    chosen = set(rng.sample(range(len(sends)), max(1, round(share * len(sends)))))
    drawn = []
    for i in sorted(chosen):
        others = [
            o.msg_id for j, o in enumerate(sends) if o.user != sends[i].user and j not in chosen
        ]
        drawn.append((i, rng.choice(others) if others else None))
    return drawn


@given(configs.filter(lambda c: c.colliding_ids > 0), st.integers(0, 100))
def test_collide_ids_draws_what_the_quadratic_version_drew(config: RunConfig, seed: int) -> None:
    """Same seed, same plan as before: stored runs replay with the same colliding ids."""
    sends = plan_workload(config.changed(colliding_ids=0)).sends
    if len({s.user for s in sends}) < 2:
        return
    out = collide_ids(random.Random(seed), sends, config.colliding_ids)
    for i, wire in reference_collisions(seed, sends, config.colliding_ids):
        assert out[i].wire_id in (wire, "")  # "": that sender already reuses this id
        assert not out[i].wire_id or out[i].msg_id == history_id(wire, sends[i].user)


def test_a_large_plan_collides_its_share_of_ids() -> None:
    """120,000 sends at 2%: before collide_ids was made linear, this plan took minutes."""
    config = RunConfig(clients=100, rate=20_000, time_limit=6, colliding_ids=0.02)
    plan = plan_workload(config)
    assert sum(1 for s in plan.sends if s.wire_id) >= 0.015 * len(plan.sends) > 1500


def test_sends_burst_and_clients_go_offline_during_faults() -> None:
    config = RunConfig(rate=20, time_limit=30, burst=4.0, offline_fraction=1.0, seed=5)
    calm, stormy = plan_workload(config), plan_workload(config, (10.0, 20.0))
    in_faults = [s for s in stormy.sends if 10 <= s.at < 13 or 20 <= s.at < 23]
    assert len(in_faults) > 2 * len([s for s in calm.sends if 10 <= s.at < 13 or 20 <= s.at < 23])
    starts = [w.start for w in stormy.offline]
    assert any(10 <= t <= 11 or 20 <= t <= 21 for t in starts)


def test_some_client_goes_offline_whenever_the_fraction_is_above_zero() -> None:
    for seed in range(20):
        assert plan_workload(RunConfig(seed=seed, offline_fraction=0.01, clients=3)).offline


staged_configs = st.builds(
    RunConfig,
    seed=st.integers(0, 10**6),
    clients=st.integers(3, 20),
    rate=st.floats(1, 20),
    time_limit=st.floats(1, 30),
    groups=st.integers(0, 4),
    direct_chats=st.integers(1, 6),
    offline_fraction=st.floats(0, 1),
    conversation_starts=st.sampled_from(["at-start", "before-faults"]),
    senders=st.sampled_from(["members", "outsiders"]),
)


@given(staged_configs, fault_times)
def test_outside_senders_and_staggered_starts_keep_the_plan_well_formed(
    config: RunConfig, faults: tuple[float, ...]
) -> None:
    plan = plan_workload(config, faults)
    assert plan == plan_workload(config, faults)
    ids = [s.msg_id for s in plan.sends]
    assert len(ids) == len(set(ids))
    assert [s.at for s in plan.sends] == sorted(s.at for s in plan.sends)
    members = {u for m in plan.conversations.values() for u in m}
    for send in plan.sends:
        assert 0 <= send.at < config.time_limit
        assert history_id(send.system_id, send.user) == send.msg_id
        if config.senders == "outsiders":
            assert send.user not in members
        else:
            assert send.user in plan.conversations[send.conv]
    if config.senders == "outsiders":
        assert members and set(plan.users) - members
        offline = {w.user: w for w in plan.offline if w.start == 0}
        for user in members:  # offline from the start to the end: they connect for the drain
            assert offline[user].duration == config.time_limit
    for window in plan.offline:
        assert window.start >= 0 and window.start + window.duration <= config.time_limit


def test_before_faults_starts_each_conversation_shortly_before_a_fault() -> None:
    faults = (5.0, 11.0, 17.5)
    config = RunConfig(
        groups=4, direct_chats=0, clients=5, rate=3, time_limit=25, offline_fraction=0,
        conversation_starts="before-faults", senders="outsiders", seed=3,
    )  # fmt: skip
    plan = plan_workload(config, faults)
    first = {}
    for send in plan.sends:
        first.setdefault(send.conv, send.at)
    assert sorted(first) == sorted(plan.conversations)
    staged = sorted(at for at in first.values() if at > 0)
    assert len(staged) == len(faults)
    for at, fault in zip(staged, faults, strict=True):
        assert 0.3 <= fault - at <= 1.2
    assert sorted(first.values()).count(0.0) == 1  # the fourth conversation: no fault left
    at_start = plan_workload(config.changed(conversation_starts="at-start"), faults)
    assert min(s.at for s in at_start.sends) < 1 and len({s.conv for s in at_start.sends}) == 4


@given(configs, fault_times)
def test_a_drivers_timeline_is_its_sends_and_windows_in_time_order(
    config: RunConfig, faults: tuple[float, ...]
) -> None:
    plan = plan_workload(config, faults)
    sends, offline = plan.sends_by_user(), plan.offline_by_user()
    for user in plan.users:
        events = list(timeline(sends[user], offline[user]))
        times = [at for at, _ in events]
        assert times == sorted(times)
        assert [e for _, e in events if isinstance(e, PlannedSend)] == sends[user]
        changes = [e for _, e in events if not isinstance(e, PlannedSend)]
        assert len(changes) == 2 * len(offline[user])
        for i, (at, event) in enumerate(events[1:], 1):
            if not isinstance(event, PlannedSend):
                assert not (events[i - 1][0] == at and isinstance(events[i - 1][1], PlannedSend))


def test_at_the_same_time_going_offline_comes_before_a_send() -> None:
    send = PlannedSend(1.0, "m1-1", "u1", "d1", 24, 7)
    window = OfflineWindow("u1", 1.0, 2.0)
    events = list(timeline([send], [window]))
    assert events == [(1.0, ("offline", window)), (1.0, send), (3.0, ("online", window))]


def test_the_same_body_seed_makes_the_same_body_and_another_seed_another() -> None:
    a, b = PlannedSend(0, "m1-1", "u1", "d1", 500, 7), PlannedSend(0, "m1-1", "u1", "d1", 500, 8)
    assert a.body == PlannedSend(0, "m1-1", "u1", "d1", 500, 7).body
    assert a.body != b.body
