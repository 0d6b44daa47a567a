"""The client's request timeout against a node that authenticates and then never answers."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from websockets.asyncio.server import ServerConnection, serve

from system_under_test import keys
from system_under_test.client import ChatClient, SendIndeterminate

PROV = keys.provision(["u1", "u2"], {"d": ["u1", "u2"]}, 1)


async def silent_node(ws: ServerConnection) -> None:
    """Challenge, welcome, then read every frame and answer none."""
    await ws.send(json.dumps({"t": "challenge", "node": "n1", "nonce": "00" * 16, "e2e": True}))
    await ws.recv()
    await ws.send(json.dumps({"t": "welcome", "node": "n1", "user": "u1"}))
    async for _ in ws:
        pass


def test_a_send_nobody_answers_ends_indeterminate_after_the_timeout():
    async def scenario() -> None:
        async with serve(silent_node, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            client = ChatClient(
                "u1",
                PROV.secrets["u1"],
                PROV.directory,
                {"n1": f"ws://127.0.0.1:{port}"},
                request_timeout=0.3,
            )
            await client.connect()
            began = time.monotonic()
            with pytest.raises(SendIndeterminate, match="did not answer"):
                await client.send("m1", "d", b"hello")
            assert 0.25 <= time.monotonic() - began < 2.0
            with pytest.raises(TimeoutError):
                await client.sync(timeout=0.2)
            assert not client._pending, "a timed-out request must not stay pending"
            await client.close()

    asyncio.run(scenario())
