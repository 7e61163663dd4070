"""The test suite's private Redis servers reuse the package's embedded runner."""

from notifier.embedded_redis import EmbeddedRedis as RedisServer
from notifier.embedded_redis import free_port, redis_server_binary

__all__ = ["RedisServer", "free_port", "redis_server_binary"]
