"""RedisBudgetStore against a real redis-server on loopback: exactness across threads and processes,
the wait answer, key derivation, and outages (at start, mid-run, recovery) that never fail a caller."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hubspot_events_provider.core.http.budget_store import (
    KEY_PREFIX,
    RedisBudgetStore,
    StoreAnswer,
    Verdict,
    derive_budget_key,
    redact_store_url,
    resolve_budget_key,
)
from tests.redis_server import PASSWORD, RedisServer, free_port

REPO = Path(__file__).resolve().parents[3]
TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"


@pytest.fixture
def log() -> logging.Logger:
    return logging.getLogger("tests.budget_store")


def hammer(store: RedisBudgetStore, threads: int, start: float, end: float) -> list[int]:
    """Grant times (µs, Redis's clock) that ``threads`` callers won between wall times start and end.

    Each caller asks, sleeps the wait it is told, asks again: the most contention a limiter sees.
    """
    grants: list[int] = []
    failures: list[StoreAnswer] = []

    def caller() -> None:
        time.sleep(max(0.0, start - time.time()))
        while time.time() < end:
            answer = store.acquire()
            if answer.admitted:
                assert answer.server_time is not None
                grants.append(round(answer.server_time * 1e6))
            elif answer.verdict is Verdict.WAIT:
                time.sleep(min(answer.wait_s, max(0.0, end - time.time())))
            else:
                failures.append(answer)
                return

    workers = [threading.Thread(target=caller) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    store.close()
    assert not failures, f"the store was unavailable: {failures[:1]}"
    return grants


# A child process: imports (redis takes seconds on a busy machine), says "ready", then hammers from
# the start and end times it is sent.
_CHILD = (
    "import json, sys\n"
    "from tests.core.http.test_budget_store import RedisBudgetStore, hammer\n"
    "url, key, budget, window, threads = sys.argv[1:]\n"
    "store = RedisBudgetStore(url, key=key, budget=int(budget), window_s=float(window))\n"
    "print('ready', flush=True)\n"
    "start, end = map(float, sys.stdin.readline().split())\n"
    "print(json.dumps(hammer(store, int(threads), start, end)))\n"
)


def _start_children(count: int, args: list[str]) -> list[subprocess.Popen[str]]:
    """``count`` hammering child processes, each imported and waiting for its start time."""
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, *args],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    for child in children:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
    return children


def _max_in_any_window(grants: list[int], window_us: int) -> int:
    """The most grants inside any rolling window (t - window, t]."""
    ordered, most, first = sorted(grants), 0, 0
    for last, at in enumerate(ordered):
        while ordered[first] <= at - window_us:
            first += 1
        most = max(most, last - first + 1)
    return most


def test_many_threads_in_three_processes_never_exceed_the_budget(redis_server: RedisServer) -> None:
    budget, window_s, threads, run_s = 15, 0.4, 6, 2.4
    key = derive_budget_key("api.hubapi.com", TOKEN)
    children = _start_children(2, [redis_server.url, key, str(budget), str(window_s), str(threads)])
    store = RedisBudgetStore(redis_server.url, key=key, budget=budget, window_s=window_s)
    start = time.time() + 0.2  # every caller of every process begins together
    end = start + run_s
    theirs: list[list[int]] = []
    for child in children:
        assert child.stdin is not None
        child.stdin.write(f"{start} {end}\n")
        child.stdin.flush()
    ours = hammer(store, threads, start, end)
    for child in children:
        out, _ = child.communicate(timeout=60)
        assert child.returncode == 0
        theirs.append(json.loads(out))
    grants = ours + [t for child_grants in theirs for t in child_grants]
    assert _max_in_any_window(grants, round(window_s * 1e6)) <= budget
    # Contended all along: the budget was used, not merely respected, and every process took part.
    assert len(grants) >= budget * (int(run_s / window_s) - 1)
    assert all(len(part) > 0 for part in [ours, *theirs])


def test_the_wait_answer_is_when_the_oldest_grant_leaves_the_window(redis_server: RedisServer) -> None:
    store = RedisBudgetStore(redis_server.url, key=KEY_PREFIX + "wait", budget=3, window_s=1.0)
    granted = [store.acquire()]
    time.sleep(0.3)  # the oldest grant leaves the window 0.3 s before the others
    granted += [store.acquire() for _ in range(2)]
    assert [a.verdict for a in granted] == [Verdict.ADMITTED] * 3
    assert [a.used for a in granted] == [1, 2, 3]
    full = store.acquire()
    assert full.verdict is Verdict.WAIT
    assert full.used == 3
    assert granted[0].server_time is not None
    assert full.server_time is not None
    assert full.wait_s == pytest.approx(granted[0].server_time + 1.0 - full.server_time, abs=2e-6)
    assert 0.6 < full.wait_s <= 0.7
    time.sleep(full.wait_s - 0.1)
    assert store.acquire().verdict is Verdict.WAIT  # still inside the window
    time.sleep(0.12)
    again = store.acquire()
    assert again.admitted
    assert again.used == 3  # the first grant left, this one took its place
    store.close()


def test_idle_keys_expire_with_the_window(redis_server: RedisServer) -> None:
    import redis

    store = RedisBudgetStore(redis_server.url, key=KEY_PREFIX + "idle", budget=5, window_s=0.3)
    assert store.acquire().admitted
    probe = redis.Redis.from_url(redis_server.url)
    assert 0 < probe.pttl(KEY_PREFIX + "idle") <= 300
    time.sleep(0.4)
    assert probe.exists(KEY_PREFIX + "idle") == 0
    probe.close()
    store.close()


def test_keys_name_the_app_never_the_token() -> None:
    key = derive_budget_key("api.hubapi.com", TOKEN)
    assert key.startswith(KEY_PREFIX + "api.hubapi.com:")
    assert TOKEN not in key
    assert not any(part in key for part in TOKEN.split("-") if len(part) >= 4)
    assert derive_budget_key("https://API.hubapi.com/", TOKEN) == key  # the same host, however written
    assert derive_budget_key("api.hubapi.com", TOKEN + "x") != key
    assert derive_budget_key("127.0.0.1:8765", TOKEN) != key
    assert derive_budget_key("127.0.0.1:8765", TOKEN) != derive_budget_key("127.0.0.1:8766", TOKEN)


def test_budget_key_overrides_the_derived_key() -> None:
    assert resolve_budget_key("api.hubapi.com", TOKEN) == derive_budget_key("api.hubapi.com", TOKEN)
    assert resolve_budget_key("api.hubapi.com", TOKEN, "  ") == derive_budget_key("api.hubapi.com", TOKEN)
    assert resolve_budget_key("api.hubapi.com", TOKEN, "portal-42") == KEY_PREFIX + "portal-42"
    assert resolve_budget_key("127.0.0.1:1", "other", "portal-42") == KEY_PREFIX + "portal-42"


def test_one_budget_key_shares_and_two_keys_do_not(redis_server: RedisServer) -> None:
    shared = resolve_budget_key("api.hubapi.com", TOKEN, "portal-42")
    first = RedisBudgetStore(redis_server.url, key=shared, budget=2, window_s=5.0)
    second = RedisBudgetStore(
        redis_server.url,
        key=resolve_budget_key("eu1.hubapi.com", "another", "portal-42"),
        budget=2,
        window_s=5.0,
    )
    other = RedisBudgetStore(
        redis_server.url, key=derive_budget_key("api.hubapi.com", TOKEN), budget=2, window_s=5.0
    )
    assert [first.acquire().verdict, second.acquire().verdict] == [Verdict.ADMITTED] * 2
    assert second.acquire().verdict is Verdict.WAIT
    assert first.acquire().verdict is Verdict.WAIT
    assert [other.acquire().verdict for _ in range(3)] == [Verdict.ADMITTED, Verdict.ADMITTED, Verdict.WAIT]
    for store in (first, second, other):
        store.close()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@cache:6379/0", "redis://***@cache:6379/0"),
        ("rediss://user:s3cret@cache.example:6380/2", "rediss://***@cache.example:6380/2"),
        ("redis://s3cret@cache/1", "redis://***@cache/1"),
        ("redis://cache:6379/0?password=s3cret&db=3", "redis://cache:6379/0?password=%2A%2A%2A&db=%2A%2A%2A"),
        ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
        ("unix://:s3cret@/run/redis.sock?db=0", "unix://***@/run/redis.sock?db=%2A%2A%2A"),
    ],
)
def test_the_store_url_is_shown_without_its_secrets(url: str, shown: str) -> None:
    assert redact_store_url(url) == shown
    assert "s3cret" not in redact_store_url(url)


def test_a_url_of_another_scheme_is_refused_without_its_password() -> None:
    with pytest.raises(ValueError, match=r"redis://, rediss:// or unix://") as raised:
        RedisBudgetStore("http://:s3cret@cache:6379", key="k", budget=1, window_s=1.0)
    assert "s3cret" not in str(raised.value)


def test_without_the_redis_package_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ImportError, match=r"pip install 'airflow-provider-hubspot-events\[redis\]'"):
        RedisBudgetStore("redis://127.0.0.1:1/0", key="k", budget=1, window_s=1.0)


def _records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "tests.budget_store" and r.levelno == level]


class _Callers:
    """Threads asking the store without pause, keeping every answer, its latency and any exception."""

    def __init__(self, store: RedisBudgetStore, count: int = 4) -> None:
        self.store, self.stop = store, threading.Event()
        self.answers: list[tuple[float, Verdict]] = []  # (latency s, verdict)
        self.errors: list[BaseException] = []
        self.threads = [threading.Thread(target=self._run) for _ in range(count)]
        for thread in self.threads:
            thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            began = time.monotonic()
            try:
                verdict = self.store.acquire().verdict
            except BaseException as exc:
                self.errors.append(exc)
                return
            self.answers.append((time.monotonic() - began, verdict))
            time.sleep(0.002)

    def seen_since(self, mark: int) -> set[Verdict]:
        return {verdict for _, verdict in self.answers[mark:]}

    def wait_for(self, verdict: Verdict, timeout_s: float) -> None:
        mark, deadline = len(self.answers), time.monotonic() + timeout_s
        while verdict not in self.seen_since(mark):
            assert time.monotonic() < deadline, f"no {verdict} within {timeout_s} s"
            time.sleep(0.02)

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def test_a_server_lost_mid_run_falls_back_warns_once_and_recovers(
    redis_server: RedisServer, log: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="tests.budget_store")
    store = RedisBudgetStore(redis_server.url, key=KEY_PREFIX + "outage", budget=1000, window_s=1.0, log=log)
    callers = _Callers(store)
    try:
        callers.wait_for(Verdict.ADMITTED, 5.0)
        for outage in (1, 2):
            redis_server.stop()
            callers.wait_for(Verdict.UNAVAILABLE, 5.0)
            time.sleep(3.5)  # a few back-offs pass: each probe fails again, and must not warn again
            assert len(_records(caplog, logging.WARNING)) == outage
            redis_server.start()  # the same port, empty: no keys, no cached script
            callers.wait_for(Verdict.ADMITTED, 5.0)
            assert len(_records(caplog, logging.INFO)) == outage
    finally:
        callers.close()
        store.close()
    assert callers.errors == []
    # An outage never stalls a caller longer than one socket timeout (0.5 s) and some scheduling slack.
    assert max(latency for latency, _ in callers.answers) < 1.5
    warning = _records(caplog, logging.WARNING)[0].getMessage()
    assert f"redis://***@127.0.0.1:{redis_server.port}/0" in warning
    assert "unavailable" in warning
    assert "available again" in _records(caplog, logging.INFO)[0].getMessage()
    assert all(PASSWORD not in record.getMessage() for record in caplog.records)
    assert PASSWORD not in caplog.text


def test_a_store_unreachable_at_start_answers_unavailable_at_once(
    log: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tests.budget_store")
    url = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"  # nothing listens there
    store = RedisBudgetStore(url, key=KEY_PREFIX + "nowhere", budget=10, window_s=1.0, log=log)
    began = time.monotonic()
    assert store.acquire().verdict is Verdict.UNAVAILABLE
    assert time.monotonic() - began < 0.6
    began = time.monotonic()
    assert [store.acquire().verdict for _ in range(50)] == [Verdict.UNAVAILABLE] * 50
    assert time.monotonic() - began < 0.05  # during the back-off the store is not even asked
    assert len(_records(caplog, logging.WARNING)) == 1
    assert PASSWORD not in caplog.text
    store.close()


def test_a_server_that_never_answers_costs_one_timeout(
    log: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tests.budget_store")
    with socket.socket() as silent:  # the kernel accepts connections; nobody ever reads or answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"redis://:{PASSWORD}@127.0.0.1:{silent.getsockname()[1]}/0"
        store = RedisBudgetStore(
            url, key=KEY_PREFIX + "silent", budget=10, window_s=1.0, log=log, retry_s=0.2
        )
        for _ in range(2):
            began = time.monotonic()
            assert store.acquire().verdict is Verdict.UNAVAILABLE
            assert 0.4 < time.monotonic() - began < 1.2
            time.sleep(0.25)
        store.close()
    assert len(_records(caplog, logging.WARNING)) == 1
    assert "Timeout" in caplog.text
    assert PASSWORD not in caplog.text


def test_a_key_of_another_type_is_unavailable_not_an_exception(
    redis_server: RedisServer, log: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    import redis

    caplog.set_level(logging.INFO, logger="tests.budget_store")
    probe = redis.Redis.from_url(redis_server.url)
    probe.set(KEY_PREFIX + "taken", "some other data")
    probe.close()
    store = RedisBudgetStore(redis_server.url, key=KEY_PREFIX + "taken", budget=10, window_s=1.0, log=log)
    assert store.acquire().verdict is Verdict.UNAVAILABLE
    assert "WRONGTYPE" in caplog.text
    store.close()
