"""Channel-layer configuration (see the sizing notes in portal/settings.py)."""


def redis_layer(url: str, prefix: str, capacity: int, expiry: int) -> dict:
    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # redis-py ≥ 5 times out idle reads after 5 s, which channels-redis's blocking
            # receive does not expect: every idle socket would be dropped (channels_redis
            # issue 422). The layer manages its own timeouts.
            "hosts": [{"address": url, "socket_timeout": None}],
            "prefix": prefix,
            "capacity": capacity,
            "expiry": expiry,
            "group_expiry": 86400,
        },
    }


def memory_layer(capacity: int, expiry: int) -> dict:
    return {
        "BACKEND": "channels.layers.InMemoryChannelLayer",
        "CONFIG": {"capacity": capacity, "expiry": expiry, "group_expiry": 86400},
    }
