"""Run the sandbox in its own process, so benchmark clients never share its GIL.

:class:`SandboxProcess` starts ``python -m benchmarks.sandbox_proc`` (a
:class:`~hubspot_events_provider.sandbox.SandboxServer` on a free loopback port that prints its
URL and runs until its stdin closes) and drives it over the ``/_sandbox`` introspection routes:
reset, reconfigure, read the request log and the counters.

The server process runs without Python's cyclic garbage collector (reference counting still frees
every event and log entry at each reset): its full collections grew with the events it stores and
stopped every handler thread for 27-99 ms in a 20,800-event case, which delayed the counting of
the requests in flight and bunched them into one window (429s no HubSpot client could avoid; see
``docs/adr/0057-bench-arrival-jitter.md``).
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
from types import TracebackType
from typing import Any

import requests

__all__ = ["SandboxProcess"]


class SandboxProcess:
    """A sandbox server in a child process.

    :param config: :class:`~hubspot_events_provider.sandbox.SandboxConfig` fields (JSON-able).
    """

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = dict(config)
        self._proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.token = "sandbox-token"
        self._http = requests.Session()

    def __enter__(self) -> SandboxProcess:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.sandbox_proc", json.dumps(self._config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        if not line.startswith("http://"):
            self.close()
            raise RuntimeError(f"sandbox process did not start (said {line!r})")
        self.url = line
        self._http.get(f"{self.url}/_sandbox/health", timeout=10).raise_for_status()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the child process (closing its stdin asks it to exit)."""
        self._http.close()
        if self._proc is None:
            return
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def _post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        resp = self._http.post(f"{self.url}/_sandbox/{path}", json=body or {}, timeout=30)
        resp.raise_for_status()
        return resp.json()

    def _get(self, path: str) -> Any:
        resp = self._http.get(f"{self.url}/_sandbox/{path}", timeout=60)
        resp.raise_for_status()
        return resp.json()

    def reset(self, **config: Any) -> None:
        """Forget events, request log and rate windows; then apply ``config`` changes, if any.

        :param config: SandboxConfig fields to change.
        """
        self._post("reset")
        if config:
            self._post("config", config)

    def requests(self) -> list[dict[str, Any]]:
        """The request log: dicts with ``at``, ``method``, ``path``, ``status``, ``inputs``..."""
        return list(self._get("requests")["results"])

    def stats(self) -> dict[str, int]:
        """The sandbox counters (``requests``, ``rate_limited``, ``creates``...)."""
        return dict(self._get("stats"))


def _serve(config_json: str) -> None:
    from hubspot_events_provider.sandbox import SandboxConfig, SandboxServer

    gc.collect()
    gc.freeze()  # what is loaded so far is never scanned again
    gc.disable()

    raw = json.loads(config_json)
    if "latency_s" in raw:
        raw["latency_s"] = tuple(raw["latency_s"])
    with SandboxServer(SandboxConfig(**raw)) as server:
        print(server.url, flush=True)
        sys.stdin.read()  # blocks until the parent closes our stdin


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Run a benchmark sandbox until stdin closes.")
    parser.add_argument("config", help="SandboxConfig fields as a JSON object")
    _serve(parser.parse_args().config)
