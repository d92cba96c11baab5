"""Rate limits (issue 11): how often a client address, an API key, a counter (verifier) and a
peer gateway may call, and how many failed authentications lock a key or an address out.

The algorithms are the maintained ``limits`` library's, not ours:

- request rates use its **sliding window counter**: two counters a key (this window's and the
  last one's, weighted by how much of it still overlaps), so a check costs O(1) time and memory
  whatever the limit, in process and in Redis (one Lua call). A flood from many addresses
  cannot make the limiter hold a timestamp per request, as a moving window does.
- failed authentications use its **moving window**: the budget is small (10 by default), and a
  lockout must be exact, "no more than N failures in any window, locked until the oldest one
  leaves it", which the approximate counter cannot promise.

Storage: Redis when ``ECERT_REDIS_URL`` is set, so every process of a city spends one budget;
in-process memory otherwise. Every Redis call is bounded (``REDIS_TIMEOUT`` to connect and to
read, no retries). When Redis fails, the limiter says so in the log and in ``/healthz`` and
**falls back to in-process limits** for ``REDIS_RETRY`` seconds before it tries Redis again: it
neither fails open (an outage of Redis must not switch the limits off, which an attacker could
arrange) nor fails closed (an outage of Redis must not stop the counters): each process then
limits alone, so N processes admit at most N times the budget until Redis is back.

Deliberately not here: which request spends which budget (``gateway.address_limits`` for
per-address limits, ``gateway.deps`` for keys, counters and peers, ``gateway.auth_guard`` for
failed authentications).
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import (
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)

from gateway.errors import TooManyRequests

if TYPE_CHECKING:
    from gateway.settings import Settings

log = logging.getLogger("ecert.ratelimit")

REDIS_TIMEOUT = 0.25  # seconds: connecting to Redis and waiting for an answer, each
REDIS_RETRY = 5.0  # seconds on in-process limits after a Redis failure before trying again
MAX_IDENTIFIER = 64  # longer identifiers (a peer's entity id) are keyed by their SHA-256


@dataclass(frozen=True)
class Rule:
    """One budget: its limits (all must hold), whether it is a lockout (exact moving window),
    and what it limits, in Chinese and English, for the 429's message."""

    name: str
    items: tuple[RateLimitItem, ...]
    what_zh: str
    what_en: str
    exact: bool = False

    @property
    def text(self) -> str:
        return "; ".join(str(item) for item in self.items)


def parse_limits(text: str) -> tuple[RateLimitItem, ...]:
    """``"50/second;1200/minute"`` (the ``limits`` notation) → its items; ``ValueError``
    saying what was expected otherwise."""
    try:
        items = tuple(parse_many(text))
    except ValueError:
        items = ()
    if not items or any(item.amount < 1 for item in items):
        raise ValueError(
            "expected rate limits like '50/second;1200/minute' or '10 per 5 minutes' "
            f"(counts of at least 1), found {text!r}"
        )
    return items


def _identifier(part: str) -> str:
    if len(part) <= MAX_IDENTIFIER and part.isprintable():
        return part
    return "sha256:" + hashlib.sha256(part.encode("utf-8", "replace")).hexdigest()


class _Memory(MemoryStorage):
    """``limits``' in-process storage, its expiry swept once a second on one short-lived thread
    instead of a new thread every 10 ms while hits come in: on a busy verify path those thread
    starts (and their turns at the GIL) cost more than the checks themselves. Keys still expire
    on time when read (the library checks on every read); the sweep only drops the ones never
    read again, within a second of their expiry."""

    SWEEP = 1.0  # seconds

    def __init__(self) -> None:
        super().__init__()
        self._sweep_lock = threading.Lock()
        self._sweeping = False

    # Replaces the library's private hook, which each write calls (MemoryStorage.incr, …).
    def _MemoryStorage__schedule_expiry(self) -> None:
        if self._sweeping:
            return
        with self._sweep_lock:
            if self._sweeping:
                return
            self._sweeping = True
        self.timer = threading.Timer(self.SWEEP, self._sweep)
        self.timer.daemon = True
        self.timer.start()

    def _sweep(self) -> None:
        try:
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]
        finally:
            self._sweeping = False


class _Backend:
    """One storage with the two strategies over it."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.counter: RateLimiter = SlidingWindowCounterRateLimiter(storage)
        self.exact: RateLimiter = MovingWindowRateLimiter(storage)

    def strategy(self, rule: Rule) -> RateLimiter:
        return self.exact if rule.exact else self.counter


class Limiter:
    """The gateway's budgets (``rules``), kept in Redis when ``redis_url`` is given, else in
    this process. ``enabled=False`` admits everything (benchmarks of the gateway itself)."""

    def __init__(
        self,
        rules: Iterable[Rule],
        *,
        redis_url: str | None = None,
        prefix: str = "ecert",
        enabled: bool = True,
    ) -> None:
        self.rules = {rule.name: rule for rule in rules}
        self.enabled = enabled
        self.memory = _Backend(_Memory())
        self.redis: _Backend | None = None
        self.redis_url = redis_url
        if redis_url:
            storage = RedisStorage(
                redis_url,
                key_prefix=prefix,
                wrap_exceptions=True,
                socket_timeout=REDIS_TIMEOUT,
                socket_connect_timeout=REDIS_TIMEOUT,
                retry_on_timeout=False,
                retry=_no_retries(),
                health_check_interval=0,
            )
            self.redis = _Backend(storage)
        self._down_until = 0.0
        self._last_error: str | None = None
        self._failures = 0
        self._lock = threading.Lock()
        self._reported: dict[tuple[str, ...], float] = {}

    # --- storage, with the fall-back -----------------------------------------------------------

    def _backend(self) -> _Backend:
        if self.redis is None or time.monotonic() < self._down_until:
            return self.memory
        return self.redis

    def _call(self, use: Callable[[_Backend], Any]) -> Any:
        backend = self._backend()
        try:
            return use(backend)
        except (StorageError, OSError) as exc:
            if backend is self.memory:
                raise
            cause = getattr(exc, "storage_error", exc)
            self._redis_failed(f"{type(cause).__name__}: {cause}")
            return use(self.memory)

    def _redis_failed(self, error: str) -> None:
        with self._lock:
            self._down_until = time.monotonic() + REDIS_RETRY
            self._last_error = error
            self._failures += 1
        log.warning(
            "Redis for rate limits failed (%s); limiting in this process only for %.0f s "
            "· 限流存储 Redis 不可用，暂用本进程限流",
            error,
            REDIS_RETRY,
        )

    # --- budgets ---------------------------------------------------------------------------------

    def hit(self, name: str, *key: str, cost: int = 1) -> None:
        """Spend ``cost`` of ``name``'s budget for ``key`` (a batch verify spends one a QR);
        :class:`TooManyRequests` when the budget has less left than that."""
        if not self.enabled:
            return
        rule = self.rules[name]
        ids = (rule.name, *map(_identifier, key))

        def spend(backend: _Backend) -> RateLimitItem | None:
            strategy = backend.strategy(rule)
            for item in rule.items:
                if not strategy.hit(item, *ids, cost=cost):
                    return item
            return None

        refused = self._call(spend)
        if refused is not None:
            raise self.too_many(rule, self.retry_after(rule, refused, ids, cost=cost))

    def most(self, name: str) -> int | None:
        """The most ``name`` can ever admit at once (its smallest item's amount): a request
        costing more can never pass, whatever it waits. ``None`` when limits are off."""
        if not self.enabled:
            return None
        return min(item.amount for item in self.rules[name].items)

    def wait(self, name: str, *key: str) -> int | None:
        """Seconds until ``name`` has room for one more for ``key``; ``None`` if it has now.
        Spends nothing (a lockout's check)."""
        if not self.enabled:
            return None
        rule = self.rules[name]
        ids = (rule.name, *map(_identifier, key))

        def full(backend: _Backend) -> RateLimitItem | None:
            strategy = backend.strategy(rule)
            return next((item for item in rule.items if not strategy.test(item, *ids)), None)

        item = self._call(full)
        return None if item is None else self.retry_after(rule, item, ids)

    def spend_and_check(self, name: str, *key: str) -> bool:
        """Spend one of ``name`` for ``key`` (a failure); True when this spent the budget, the
        first time in the window this process saw it (the start of a burst: audit it once)."""
        if not self.enabled:
            return False
        rule = self.rules[name]
        ids = (rule.name, *map(_identifier, key))

        def spend(backend: _Backend) -> bool:
            strategy = backend.strategy(rule)
            admitted = [strategy.hit(item, *ids) for item in rule.items]
            return not all(admitted) or any(not strategy.test(item, *ids) for item in rule.items)

        if not self._call(spend):
            return False
        window = max(item.get_expiry() for item in rule.items)
        now = time.monotonic()
        with self._lock:
            if len(self._reported) > 10_000:  # bounded: forget what is over
                self._reported = {k: v for k, v in self._reported.items() if v > now}
            if self._reported.get(ids, 0.0) > now:
                return False
            self._reported[ids] = now + window
        return True

    def retry_after(
        self, rule: Rule, item: RateLimitItem, ids: tuple[str, ...], *, cost: int = 1
    ) -> int:
        """Seconds until ``item`` has room for ``cost`` for ``ids``, rounded up."""
        if cost > 1 and not rule.exact:

            def counts(backend: _Backend) -> tuple[int, int]:
                window = backend.storage.get_sliding_window(  # type: ignore[attr-defined]
                    item.key_for(*ids), item.get_expiry()
                )
                return int(window[0]), int(window[2])

            previous, current = self._call(counts)
            wait = sliding_wait(item.amount, item.get_expiry(), previous, current, cost)
            return max(1, math.ceil(wait))

        def stats(backend: _Backend) -> float:
            return float(backend.strategy(rule).get_window_stats(item, *ids).reset_time)

        reset: float = self._call(stats)
        return max(1, min(item.get_expiry(), math.ceil(reset - time.time())))

    @staticmethod
    def too_many(rule: Rule, retry_after: int) -> TooManyRequests:
        return TooManyRequests(
            f"{rule.what_zh}过于频繁（上限 {rule.text}），请 {retry_after} 秒后再试",
            f"too many {rule.what_en}: the limit is {rule.text}; retry in {retry_after} s",
            retry_after=retry_after,
        )

    # --- health ----------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """For ``/healthz``: where the budgets are kept now, and Redis's last failure. Asks
        Redis (a ``PING``, bounded like every call) when it is thought to be up."""
        if not self.enabled:
            return {"enabled": False, "storage": None, "shared": False}
        up = self.redis is not None and self._backend() is self.redis
        if up and self.redis is not None and not self.redis.storage.check():  # never raises
            self._redis_failed("PING failed")
        shared = self.redis is not None and self._backend() is self.redis
        answer: dict[str, Any] = {
            "enabled": True,
            "storage": "redis" if shared else "memory",
            "shared": shared,
        }
        if self.redis is not None:
            answer["redis"] = "ok" if shared else "unavailable"
            answer["redis_failures"] = self._failures
            answer["redis_last_error"] = self._last_error
        return answer


def sliding_wait(
    amount: int, expiry: int, previous: int, current: int, cost: int, *, now: float | None = None
) -> float:
    """Seconds until a sliding window counter of ``amount`` per ``expiry`` seconds, holding
    ``previous`` in the last window and ``current`` in this one, admits ``cost`` more (the
    library's own reset time says when *one* more fits, which a batch would wait for in vain).

    The counter weighs the last window by the share of it the sliding window still covers, so
    the count falls linearly until this window ends, then this window's count falls likewise.
    At most two windows; 0 when it fits now."""
    at = time.time() if now is None else now
    to_end = expiry - at % expiry  # this window's end
    # Admitted once floor(count) + cost <= amount, i.e. count < amount - cost + 1; a hair more
    # than the exact moment, so that a client retrying when told is admitted.
    below = max(0, amount - cost) + 1
    if current < below:
        if previous == 0:
            return 0.0
        return max(0.0, to_end - (below - current) * expiry / previous) + 1e-3
    return to_end + max(0.0, expiry - below * expiry / current) + 1e-3


# name → (the setting holding its limits, what it limits in Chinese and in English, lockout?)
RULES: Mapping[str, tuple[str, str, str, bool]] = {
    "verify": ("rate_limit_verify", "核验请求", "verification requests from this address", False),
    "verify_batch": (
        "rate_limit_verify_batch", "批量核验的二维码", "QRs verified in batches from this address",
        False,
    ),
    "image": ("rate_limit_image", "图片上传", "image uploads from this address", False),
    "issue_address": (
        "rate_limit_issue_address", "签发请求", "issuance requests from this address", False,
    ),
    "issue": ("rate_limit_issue", "该接口密钥的签发请求", "issuance requests with this API key",
              False),
    "api_key": ("rate_limit_api_key", "该接口密钥的请求", "requests with this API key", False),
    "verifier": ("rate_limit_verifier", "该核验点的请求", "requests of this counter", False),
    "peer": ("rate_limit_peer", "该城市网关的请求", "requests from this peer gateway", False),
    "peer_address": (
        "rate_limit_peer_address", "联邦请求", "federation requests from this address", False,
    ),
    "auth_key": (
        "rate_limit_auth_failures", "该密钥的身份验证失败", "failed authentications with this key",
        True,
    ),
    "auth_address": (
        "rate_limit_auth_failures_address", "来自该地址的身份验证失败",
        "failed authentications from this address", True,
    ),
}  # fmt: skip


def limiter_for(settings: Settings) -> Limiter:
    """The limiter ``settings`` describe (``ECERT_RATE_LIMIT_*``, ``ECERT_REDIS_URL``)."""
    rules = [
        Rule(name, parse_limits(getattr(settings, field)), zh, en, exact=exact)
        for name, (field, zh, en, exact) in RULES.items()
    ]
    return Limiter(
        rules,
        redis_url=settings.redis_url,
        prefix=settings.redis_prefix,
        enabled=settings.rate_limits,
    )


def _no_retries() -> Any:
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return Retry(NoBackoff(), 0)
