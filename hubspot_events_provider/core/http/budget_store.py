"""One rate budget shared exactly by every worker of an app, kept in Redis.

Each request takes a slot in a rolling window kept in a sorted set: an atomic Lua script trims
the grants older than the window, counts the rest and either admits (adds a grant) or answers how
long until this request's turn. Waiting requests are served task by task, the task served the
fewest requests first, so tasks that share the budget get equal shares and finish together. Time
is Redis's own (``TIME``), so machines never need to agree on a clock. The store failing never
fails a sync: :meth:`RedisBudgetStore.acquire` answers *unavailable* (the caller falls back to its
local limiter), warns once per outage and tries again after a short back-off.
"""

from __future__ import annotations

import enum
import hashlib
import itertools
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:
    import redis

__all__ = [
    "KEY_PREFIX",
    "QUEUE_GRACE_S",
    "RedisBudgetStore",
    "StoreAnswer",
    "Verdict",
    "derive_budget_key",
    "redact_store_url",
    "resolve_budget_key",
]

#: Every key this module writes starts with this, so the keys are easy to find and never clash.
KEY_PREFIX = "hubspot-events:budget:"
#: A queued ticket that is not asked again within its wait plus this leaves the queue (its task
#: ended or stalled), so a dead waiter holds the others back at most this long.
QUEUE_GRACE_S = 1.0
SCHEMES = ("redis", "rediss", "unix")
_EXTRA_HINT = "pip install 'airflow-provider-hubspot-events[redis]'"

# KEYS: the grants (sorted set: score = when the grant counts from, in µs on Redis's clock), the
# queue of waiting tickets (score = when each first asked), their due times (score = by when the
# ticket must ask again, or it is dropped) and the requests served to each task (hash). ARGV:
# budget, window µs, the ticket (also the grant's member; its task before the colon), slack µs (the
# grant counts as if made that much later: the jitter between the grant and the arrival at
# HubSpot), grace µs (0: a one-off ask that does not queue). Answers {admitted 1|0, now, used,
# wait}: ``used`` counts the window's grants after the decision; ``wait`` (µs, 0 when admitted) is
# when this ticket's turn comes: the grant that must leave the window before it does.
#
# Fair shares: a waiting ticket is served when its task has been served the fewest requests (then
# the first to ask). A task new to the budget starts one window's equal share below the least
# served of the tasks holding grants, so tasks that start within a window of each other end
# together and a task that joins later never starves the others for more than a window. A task
# that neither holds a grant nor waits is forgotten. A ticket ahead that sleeps until a later turn
# (its due time less the grace is still to come) does not count: it never holds a free slot back.
# A grant at t counts while t > now - window (HubSpot's rolling window); scores in µs stay exact.
# Each key lives as long as its longest-lived entry: the latest grant's score plus the window, the
# latest due time (a later grant or waiter with less slack or a shorter wait never cuts them short).
_ACQUIRE_LUA = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local budget, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local ticket, slack, grace = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local grants, queue, due_key, served_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local function task_of(member) return string.match(member, '^[^:]*') end
redis.call('ZREMRANGEBYSCORE', grants, '-inf', now - window)
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', due_key, '-inf', now, 'LIMIT', 0, 100)) do
  redis.call('ZREM', queue, gone)
  redis.call('ZREM', due_key, gone)
end
local holding, used = {}, 0
for _, grant in ipairs(redis.call('ZRANGE', grants, 0, -1)) do
  holding[task_of(grant)] = true
  used = used + 1
end
local rank = redis.call('ZCARD', queue)
if grace > 0 then
  redis.call('ZADD', queue, 'NX', now, ticket)
  local waiting = redis.call('ZRANGE', queue, 0, -1, 'WITHSCORES')
  local served, known = {}, {}
  local raw = redis.call('HGETALL', served_key)
  for i = 1, #raw, 2 do served[raw[i]] = tonumber(raw[i + 1]) end
  for i = 1, #waiting, 2 do known[task_of(waiting[i])] = true end
  for task, _ in pairs(holding) do known[task] = true end
  for task, _ in pairs(served) do
    if not known[task] then
      redis.call('HDEL', served_key, task)
      served[task] = nil
    end
  end
  local me = task_of(ticket)
  if served[me] == nil then
    local low, active = nil, 0
    for task, _ in pairs(holding) do
      active = active + 1
      local n = served[task] or 0
      if low == nil or n < low then low = n end
    end
    served[me] = math.max(0, (low or 0) - math.ceil(budget / (active + 1)))
    redis.call('HSET', served_key, me, served[me])
  end
  local mine, asked = served[me], tonumber(redis.call('ZSCORE', queue, ticket))
  rank = 0
  for i = 1, #waiting, 2 do
    local other, other_asked = waiting[i], tonumber(waiting[i + 1])
    local theirs = served[task_of(other)] or 0
    if other ~= ticket and (theirs < mine or (theirs == mine and (other_asked < asked
        or (other_asked == asked and other < ticket)))) then
      local due = redis.call('ZSCORE', due_key, other)
      if not due or tonumber(due) - grace <= now then rank = rank + 1 end
    end
  end
end
local free = budget - used
if rank < free then
  redis.call('ZADD', grants, now + slack, ticket)
  local last = redis.call('ZRANGE', grants, -1, -1, 'WITHSCORES')
  redis.call('PEXPIRE', grants, math.ceil((tonumber(last[2]) + window - now) / 1000))
  if grace > 0 then
    redis.call('ZREM', queue, ticket)
    redis.call('ZREM', due_key, ticket)
    redis.call('HINCRBY', served_key, task_of(ticket), 1)
    redis.call('PEXPIRE', served_key, math.ceil((2 * window + slack + grace) / 1000))
  end
  return {1, now, used + 1, 0}
end
local wait = window
local ahead = rank - free
if ahead < used then
  local leaving = redis.call('ZRANGE', grants, ahead, ahead, 'WITHSCORES')
  wait = tonumber(leaving[2]) + window - now
end
if wait < 1 then wait = 1 end
if grace > 0 then
  redis.call('ZADD', due_key, now + wait + grace, ticket)
  local latest = redis.call('ZRANGE', due_key, -1, -1, 'WITHSCORES')
  local keep = math.ceil((tonumber(latest[2]) - now) / 1000) + 1000
  redis.call('PEXPIRE', queue, keep)
  redis.call('PEXPIRE', due_key, keep)
  redis.call('PEXPIRE', served_key, math.max(keep, math.ceil((2 * window + grace) / 1000)))
end
return {0, now, used, wait}
"""


class Verdict(enum.Enum):
    """What the store said about one request."""

    ADMITTED = "admitted"
    WAIT = "wait"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class StoreAnswer:
    """The store's answer to :meth:`RedisBudgetStore.acquire`.

    :ivar verdict: admitted (send now), wait (ask again after ``wait_s``) or unavailable (use the
        local limiter).
    :ivar wait_s: seconds until a slot frees, on Redis's clock; 0 unless ``verdict`` is WAIT.
    :ivar server_time: Redis's clock at the decision (seconds since the epoch), ``None`` when
        unavailable; for an admitted request, when the grant was made (it counts in the window
        from that time plus its slack).
    :ivar used: grants in the window after the decision; 0 when unavailable.
    """

    verdict: Verdict
    wait_s: float = 0.0
    server_time: float | None = None
    used: int = 0

    @property
    def admitted(self) -> bool:
        """Whether the request may leave now."""
        return self.verdict is Verdict.ADMITTED


UNAVAILABLE = StoreAnswer(Verdict.UNAVAILABLE)


def redact_store_url(url: str) -> str:
    """The store's URL fit for a log: user and password replaced by ``***``, query values hidden.

    :param url: a Redis URL such as ``redis://:secret@host:6379/0``.
    :returns: e.g. ``redis://***@host:6379/0``; an unparsable URL becomes ``<unparsable URL>``.
    """
    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
        netloc = f"***@{host}" if "@" in parts.netloc else host
        query = urlencode([(name, "***") for name, _ in parse_qsl(parts.query, keep_blank_values=True)])
    except ValueError:
        return "<unparsable URL>"
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _url_secrets(url: str) -> list[str]:
    """What an error message about ``url`` must never show: user, password and query values."""
    parts = urlsplit(url)
    others = [parts.username or "", *(value for _, value in parse_qsl(parts.query))]
    # Short user names and query values ("0", "db") are left alone: replacing them would garble the text.
    return ([parts.password] if parts.password else []) + [value for value in others if len(value) > 2]


def _host_name(host: str) -> str:
    """``host`` without scheme, path or case: ``https://API.hubapi.com/`` -> ``api.hubapi.com``."""
    text = host.strip()
    netloc = urlsplit(text).netloc if "://" in text else text.split("/", 1)[0]
    return netloc.lower()


def derive_budget_key(host: str, credential: str) -> str:
    """The Redis key of an app's budget: the host in clear and a digest of the credential.

    The token never appears: only the first 24 hex digits (96 bits) of its SHA-256 do, enough to tell
    apps apart and useless to call HubSpot with.

    :param host: the API host or base URL (``api.hubapi.com``); the sandbox's differs per port.
    :param credential: what identifies the app's budget: a private app token, or for OAuth the
        client id with the refresh token (the budget is per app and account), or a portal/app id.
    :returns: e.g. ``hubspot-events:budget:api.hubapi.com:3f2a…``.
    """
    digest = hashlib.sha256(credential.encode("utf-8")).hexdigest()[:24]
    return f"{KEY_PREFIX}{_host_name(host)}:{digest}"


def resolve_budget_key(host: str, credential: str, budget_key: str | None = None) -> str:
    """The key a connection's budget lives under: ``budget_key`` when set, else the derived one.

    :param budget_key: the ``budget_key`` knob; tasks that give the same one share a budget. It is
        stored under :data:`KEY_PREFIX` so it never clashes with other data in the same Redis.
    """
    if budget_key is not None and budget_key.strip():
        return f"{KEY_PREFIX}{budget_key.strip()}"
    return derive_budget_key(host, credential)


class RedisBudgetStore:
    """A rolling-window budget shared through Redis; thread-safe, one instance per task.

    :param url: ``redis://[[user]:password@]host:port/db``, ``rediss://`` for TLS, or ``unix://``.
    :param key: the budget's key (:func:`resolve_budget_key`).
    :param budget: requests allowed per window (``max_requests_per_10s``).
    :param window_s: the window's length in seconds (``rate_window_s``).
    :param log: where the outage warning and the recovery line go.
    :param timeout_s: socket connect and operation timeout, short so an outage never stalls a request.
    :param retry_s: after a failure, the store is not asked again for this long.
    :raises ValueError: on a URL of another scheme, a budget < 1 or a window <= 0.
    :raises ImportError: when the ``redis`` extra is not installed.
    """

    def __init__(
        self,
        url: str,
        *,
        key: str,
        budget: int,
        window_s: float,
        log: logging.Logger | None = None,
        timeout_s: float = 0.5,
        retry_s: float = 1.5,
    ) -> None:
        self.name = redact_store_url(url)
        if urlsplit(url).scheme not in SCHEMES:
            raise ValueError(f"budget_store must be a redis://, rediss:// or unix:// URL, not {self.name}")
        if budget < 1 or window_s <= 0:
            raise ValueError(f"budget_store needs a budget >= 1 and a window > 0 (got {budget}, {window_s})")
        self.key, self.budget, self.window_s = key, budget, window_s
        self._window_us = max(1, round(window_s * 1_000_000))
        self._log = log or logging.getLogger(__name__)
        self._retry_s = retry_s
        self._secrets = _url_secrets(url)
        self._client: redis.Redis = self._connect(url, timeout_s)
        self._script = self._client.register_script(_ACQUIRE_LUA)
        self._keys = [key, f"{key}:queue", f"{key}:due", f"{key}:served"]
        self._member_prefix = uuid.uuid4().hex
        self._serial = itertools.count()
        self._lock = threading.Lock()
        self._down = False
        self._down_since = self._next_try = 0.0

    @staticmethod
    def _connect(url: str, timeout_s: float) -> redis.Redis:
        """A pooled client (no command sent yet) that never retries on its own."""
        try:  # the optional extra: imported only when a store is configured
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError as exc:
            raise ImportError(f"budget_store needs the redis package: {_EXTRA_HINT}") from exc
        return redis.Redis.from_url(
            url,
            socket_connect_timeout=timeout_s,
            socket_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),  # the caller falls back at once; we retry after a back-off
            health_check_interval=0,
        )

    def new_ticket(self) -> str:
        """A unique ticket: one request's place in the queue while it waits, then its grant.

        ``<task>:<serial>``: the part before the colon is the same for every ticket of this
        instance (one task), so the store can count each task's grants in the window.
        """
        return f"{self._member_prefix}:{next(self._serial)}"

    def acquire(
        self, budget: int | None = None, *, slack_s: float = 0.0, ticket: str | None = None
    ) -> StoreAnswer:
        """Take a slot for one request, or say how long to wait, or that the store is unavailable.

        Never raises for the store's failures: any Redis or socket error answers UNAVAILABLE.

        :param budget: this request's budget when lower than :attr:`budget` (a task that sees
            someone outside the store spending the app's budget asks for less); ``None``: the whole.
        :param slack_s: the grant counts as if made this much later (the jitter between the grant
            and the arrival at HubSpot; the window itself stays :attr:`window_s`).
        :param ticket: from :meth:`new_ticket`, the same one until admitted: the request waits in
            the app's queue, served when its task has been served the fewest requests (then in
            the order the tickets first asked): equal shares between tasks; a ticket not asked
            again within its wait plus :data:`QUEUE_GRACE_S` leaves the queue.
            ``None``: a one-off ask behind every queued ticket, which never queues.
        """
        budget = self.budget if budget is None else max(1, min(budget, self.budget))
        if not self._may_try():
            return UNAVAILABLE
        args: list[int | str] = [
            budget,
            self._window_us,
            ticket or self.new_ticket(),
            max(0, round(slack_s * 1e6)),
            round(QUEUE_GRACE_S * 1e6) if ticket else 0,
        ]
        asked_at = time.monotonic()
        try:
            reply = self._script(keys=self._keys, args=args)
            answer = self._parse(reply)
        except Exception as exc:  # noqa: BLE001 - redis, socket or reply errors all mean "unavailable"
            self._went_down(exc)
            return UNAVAILABLE
        self._came_back(asked_at)
        return answer

    @staticmethod
    def _parse(reply: Any) -> StoreAnswer:
        """The script's ``{admitted, now_us, used, wait_us}`` as a :class:`StoreAnswer`."""
        admitted, now_us, used, wait_us = (int(part) for part in reply)
        if admitted == 1:
            return StoreAnswer(Verdict.ADMITTED, 0.0, now_us / 1e6, used)
        return StoreAnswer(Verdict.WAIT, max(wait_us, 1) / 1e6, now_us / 1e6, used)

    def _may_try(self) -> bool:
        """Whether to ask the store now; during an outage one caller per back-off probes it."""
        with self._lock:
            if not self._down:
                return True
            now = time.monotonic()
            if now < self._next_try:
                return False
            self._next_try = now + self._retry_s  # this caller probes; the others fall back meanwhile
            return True

    def _went_down(self, exc: BaseException) -> None:
        """Start (or prolong) an outage; warn only when it starts."""
        with self._lock:
            now = time.monotonic()
            self._next_try = now + self._retry_s
            if self._down:
                return
            self._down, self._down_since = True, now
        reason = f"{type(exc).__name__}: {exc}"
        for secret in self._secrets:
            reason = reason.replace(secret, "***")
        self._log.warning(
            "Rate budget store %s is unavailable (%s); using the local rate limiter, retrying every %.1f s",
            self.name,
            reason,
            self._retry_s,
        )

    def _came_back(self, asked_at: float) -> None:
        """End an outage, with one info line, when a request asked after it began was answered."""
        with self._lock:
            if not self._down or asked_at < self._down_since:  # answered from before the outage
                return
            self._down = False
        self._log.info("Rate budget store %s is available again; sharing the budget through it", self.name)

    def close(self) -> None:
        """Close the store's connections (the instance must not be used afterwards)."""
        try:
            self._client.close()
        except Exception as exc:  # noqa: BLE001 - closing a dead connection must not fail a task
            self._log.debug("Closing rate budget store %s: %s", self.name, exc)
