"""The Redis channel layer as configured must keep idle receivers alive.

Runs against the local Redis in both CI suites (the layer is built from the same config
function settings use, whatever REDIS_URL the run has)."""

import asyncio
import uuid

from channels_redis.core import RedisChannelLayer

from portal.layers import redis_layer


def test_an_idle_receiver_outlives_the_redis_client_read_timeout():
    config = redis_layer("redis://127.0.0.1:6379/6", f"test-{uuid.uuid4().hex[:8]}", 100, 30)["CONFIG"]
    layer = RedisChannelLayer(**config)

    async def scenario():
        channel = await layer.new_channel()

        async def send_later():
            await asyncio.sleep(6.5)  # longer than redis-py's 5 s default socket timeout
            await layer.send(channel, {"type": "ping", "n": 1})

        sender = asyncio.create_task(send_later())
        message = await asyncio.wait_for(layer.receive(channel), timeout=20)
        await sender
        await layer.flush()
        return message

    assert asyncio.run(scenario()) == {"type": "ping", "n": 1}
