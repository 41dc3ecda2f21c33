"""A private ``redis-server`` (Debian's package) on loopback for tests: start, kill, restart.

``make redis-deps`` installs it; without it the tests that need it are skipped with that reason
(and fail under CI, where the Makefile must have installed it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PASSWORD = "s3cret-redis-pass"


def redis_server_binary() -> str:
    """The ``redis-server`` on PATH; skips the test (fails it under CI) when there is none."""
    found = shutil.which("redis-server")
    if found is None:
        reason = "redis-server is not installed: `make redis-deps` installs Debian's package"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ping(port: int, password: str | None) -> bool:
    """Whether the server on ``port`` answers PING (after AUTH) over raw RESP."""
    auth = f"*2\r\n$4\r\nAUTH\r\n${len(password)}\r\n{password}\r\n" if password else ""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(f"{auth}*1\r\n$4\r\nPING\r\n".encode())
            deadline, seen = time.monotonic() + 1.0, b""
            while b"PONG" not in seen and b"-" not in seen and time.monotonic() < deadline:
                seen += sock.recv(256)
            return b"+PONG" in seen
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` on 127.0.0.1 with no persistence; :meth:`stop` and :meth:`start` again
    on the same port simulate an outage and a recovery.

    :param password: set as ``requirepass``; the URL carries it.
    """

    def __init__(self, *, password: str | None = PASSWORD) -> None:
        self.binary = redis_server_binary()
        self.port = free_port()
        self.password = password
        self.workdir = Path(tempfile.mkdtemp(prefix="hubspot-budget-redis-"))
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://:password@127.0.0.1:port/0``."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 20.0) -> None:
        """Start the server and wait until it answers PING."""
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self.workdir), "--daemonize", "no"]
        if self.password:
            args += ["--requirepass", self.password]
        self._proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + timeout_s
        while not _ping(self.port, self.password):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Kill the server at once (SIGKILL: no goodbye to the clients) and wait for it."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=30)
        self._proc = None

    def close(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextmanager
def running_redis(*, password: str | None = PASSWORD) -> Iterator[RedisServer]:
    """A started :class:`RedisServer`, stopped and removed on exit."""
    server = RedisServer(password=password)
    try:
        server.start()
        yield server
    finally:
        server.close()
