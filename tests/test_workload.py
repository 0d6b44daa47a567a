"""The workload plan: a pure function of the configuration, within its bounds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from harness.config import RunConfig
from harness.workload import plan_workload

configs = st.builds(
    RunConfig,
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


@given(configs)
def test_every_send_is_by_a_member_and_ids_are_unique(config: RunConfig) -> None:
    plan = plan_workload(config)
    ids = [s.msg_id for s in plan.sends]
    assert len(ids) == len(set(ids))
    for send in plan.sends:
        assert send.user in plan.conversations[send.conv]
        assert 0 <= send.at < config.time_limit
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
