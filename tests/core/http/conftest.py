"""Fixtures shared by the HTTP layer's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.redis_server import RedisServer, running_redis


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A private ``redis-server`` on loopback for one test (Debian's package; see tests/redis_server.py)."""
    with running_redis() as server:
        yield server
