"""One endpoint pool for both OpenAI-compatible clients: the judge (hrlaif.judge.openai_backend)
and the served policy (hrlaif.serving). Each keeps its own request loop (what a result is, what a
failed item becomes); what they share lives here:

- the API key: `api_key_file` when set, else `$<api_key_env>`, else "none" (local servers). It is
  only handed to the openai client, never logged, and every message built from a server's reply
  is scrubbed of it (hrlaif.redact: the key and any 8 of its characters in a row, before cutting);
- round robin over `base_urls`; an endpoint failing `endpoint_failures` times in a row (5xx,
  timeouts, broken connections, malformed bodies) is skipped for a cooldown (5 s, doubling while it
  keeps failing, at most 60 s); one answering 401/403/404 is dropped for the run;
- status classes: 408/409/429/5xx, timeouts, broken connections and malformed bodies are retried;
  any other 4xx is not. A `Retry-After` / `retry-after-ms` header sets the wait and puts the
  endpoint aside for that long; otherwise exponential backoff with jitter;
- the sync-over-async runner (`run_sync`), usable from a thread or inside a running event loop.

Why not the openai client's own retries (`max_retries`): they retry one request against the one
base URL of its client, with waits that remember nothing across requests (0.5 s doubling to 8 s;
Retry-After only up to 2 minutes, and its parser is private). They cannot move a request to another
endpoint, set aside an endpoint that keeps failing, or let one 429 hold back every request to that
server. So the clients are made with `max_retries=0` and this is the only retry policy. What the
client does give us is used as is: its timeout, its connection pool, its exception classes (status,
headers and body of a failed request) and its redaction of headers in its own logs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import logging
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import openai

from hrlaif.errors import HrlaifError
from hrlaif.redact import NO_KEY, scrub

log = logging.getLogger(__name__)

T = TypeVar("T")

COOLDOWN_MAX_S = 60.0
"""The longest an endpoint is skipped after failing in a row (its cooldown doubles up to this)."""

REFUSED = (401, 403, 404)
"""Statuses after which an endpoint is not asked again this run (wrong key, no access, no such route)."""


class EndpointSettings(Protocol):
    """What the pool reads of a config section: hrlaif.config's JudgeConfig and PolicyServerConfig
    both declare these fields (its shared BaseUrls, ApiKeyFile, MaxRetries, ExtraBody types)."""

    base_urls: list[str]
    api_key_env: str
    api_key_file: Path | None
    concurrency: int
    timeout_s: float
    max_retries: int
    extra_body: dict[str, Any]


def read_api_key(config: EndpointSettings, section: str) -> str:
    """The key from `api_key_file` when set, else the env var `api_key_env`, else "none".
    `section` names the config section in errors ("judge", "policy.server")."""
    if config.api_key_file is not None:
        path = config.api_key_file.expanduser()
        try:
            key = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise HrlaifError(f"{section}.api_key_file {path}: cannot read it ({exc.strerror or type(exc).__name__})") from None
        except UnicodeDecodeError:  # the bytes are never shown: they may be the key
            raise HrlaifError(f"{section}.api_key_file {path}: not UTF-8 text; save the key as plain text") from None
        if not key:
            raise HrlaifError(f"{section}.api_key_file {path}: the file is empty")
        if not (key.isascii() and key.isprintable()) or any(c.isspace() for c in key):  # an HTTP header carries neither
            raise HrlaifError(f"{section}.api_key_file {path}: the key holds spaces, line breaks or non-ASCII characters; keep one key on one line")
        return key
    key = os.environ.get(config.api_key_env, "").strip()
    return key or NO_KEY


def retry_after(headers: Any) -> float | None:
    """Seconds asked by `retry-after-ms` or `retry-after` (seconds or an HTTP date), if any."""
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


def server_message(body: Any) -> str:
    """The message of an error body, whole: scrub it before cutting it (hrlaif.redact)."""
    if isinstance(body, dict):
        error = body.get("error", body)
        message = error.get("message") if isinstance(error, dict) else error
        return str(message or "")
    return str(body or "")


@dataclass
class Failure:
    """A request that got no usable answer, as a message-safe value (openai exceptions carry the
    request, headers included, so they never leave the clients)."""

    label: str  # "http 503", "timeout", "connection error", "malformed response (...)"
    retryable: bool = True
    endpoint_fault: bool = True  # counts towards the endpoint's cooldown
    retry_after: float | None = None
    status: int | None = None
    message: str = ""  # the server's error message, scrubbed, at most 200 characters


def is_retryable(status: int) -> bool:
    """408 (timeout), 409 (lock), 429 (rate limit) and 5xx may succeed later; other 4xx never will."""
    return status in (408, 409, 429) or status >= 500


@dataclass
class Endpoint:
    url: str
    failures: int = 0  # in a row
    trips: int = 0  # cooldowns in a row
    down_until: float = 0.0  # loop time before which it is not asked
    dropped: str = ""  # why it is out for the run


class EndpointPool:
    """The endpoints of one client, its key, and the bookkeeping of their failures. A client's loop:
    `pick` an endpoint (waiting when all cool down), send, then `succeeded`, or `refused` (dropped:
    ask elsewhere) / `failed` (cooldown, Retry-After) and `delay` before the next try."""

    def __init__(
        self,
        config: EndpointSettings,
        *,
        section: str,
        unusable: str,
        backoff_s: float = 0.5,
        backoff_max_s: float = 30.0,
        endpoint_failures: int = 3,
        endpoint_cooldown_s: float = 5.0,
        name: str | None = None,
    ) -> None:
        """`section` names the config section in key errors; `unusable` is the error once every
        endpoint is dropped, with "{reasons}" for theirs; `name` starts log lines ("judge endpoint")."""
        self.config = config
        self.unusable = unusable
        self.name = name or f"{section} endpoint"
        self.backoff_s, self.backoff_max_s = backoff_s, backoff_max_s
        self.endpoint_failures, self.endpoint_cooldown_s = endpoint_failures, endpoint_cooldown_s
        self.endpoints = [Endpoint(url.rstrip("/")) for url in dict.fromkeys(config.base_urls)]
        self._next = 0
        self._rng = random.Random()
        self.__key = read_api_key(config, section)

    @property
    def urls(self) -> list[str]:
        return [e.url for e in self.endpoints]

    def scrub(self, text: str) -> str:
        return scrub(text, self.__key)

    @asynccontextmanager
    async def clients(self) -> AsyncIterator[dict[str, openai.AsyncOpenAI]]:
        """One AsyncOpenAI client per endpoint (its own retries off), closed on the way out."""
        clients = {
            e.url: openai.AsyncOpenAI(api_key=self.__key, base_url=e.url, max_retries=0, timeout=self.config.timeout_s)
            for e in self.endpoints
        }
        try:
            yield clients
        finally:
            for client in clients.values():
                try:
                    await client.close()
                except Exception:  # closing must not hide the result
                    pass

    # -- choosing ---------------------------------------------------------------------------

    def pick(self, now: float) -> tuple[Endpoint, float]:
        """The next endpoint round robin that is not cooling down (wait 0), or the one back
        soonest and how long until it is. HrlaifError (`unusable`) once every one is dropped."""
        live = [e for e in self.endpoints if not e.dropped]
        if not live:
            reasons = "; ".join(f"{e.url}: {e.dropped}" for e in self.endpoints)
            raise HrlaifError(self.scrub(self.unusable.format(reasons=reasons)))
        count = len(self.endpoints)
        for step in range(count):
            endpoint = self.endpoints[(self._next + step) % count]
            if not endpoint.dropped and endpoint.down_until <= now:
                self._next = (self._next + step + 1) % count
                return endpoint, 0.0
        soonest = min(live, key=lambda e: e.down_until)
        return soonest, soonest.down_until - now

    # -- what a request found ---------------------------------------------------------------

    def failure(self, exc: Exception) -> Failure:
        """The Failure an openai exception (or a body the client could not read) stands for."""
        if isinstance(exc, openai.APITimeoutError):  # before APIConnectionError, its base class
            return Failure("timeout")
        if isinstance(exc, openai.APIConnectionError):
            return Failure("connection error")
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            retryable = is_retryable(status)
            return Failure(
                f"http {status}", retryable=retryable, endpoint_fault=status >= 500, status=status,
                retry_after=retry_after(exc.response.headers) if retryable else None,
                message=self.scrub(server_message(exc.body))[:200],  # scrubbed whole, then cut
            )
        return Failure(f"malformed response ({type(exc).__name__})")  # not JSON, wrong shape

    def succeeded(self, endpoint: Endpoint) -> None:
        endpoint.failures = endpoint.trips = 0

    def refused(self, endpoint: Endpoint, failure: Failure) -> bool:
        """True (and the endpoint dropped for the run) when it answered 401/403/404."""
        if failure.status not in REFUSED:
            return False
        endpoint.dropped = f"http {failure.status} {failure.message}".strip()
        log.warning("%s %s answered http %d; not using it again this run", self.name, endpoint.url, failure.status)
        return True

    def failed(self, endpoint: Endpoint, failure: Failure, now: float) -> None:
        """A Retry-After sets the endpoint aside for that long; another fault of the endpoint's
        counts towards its cooldown."""
        if failure.retry_after is not None:
            endpoint.down_until = max(endpoint.down_until, now + failure.retry_after)
            return
        if not failure.endpoint_fault:
            return
        endpoint.failures += 1
        if endpoint.failures >= self.endpoint_failures and endpoint.down_until <= now:
            cooldown = min(COOLDOWN_MAX_S, self.endpoint_cooldown_s * 2**endpoint.trips)
            endpoint.trips += 1
            endpoint.down_until = now + cooldown
            log.warning("%s %s failed %d times in a row; skipping it for %.1fs", self.name, endpoint.url, endpoint.failures, cooldown)

    # -- waiting ----------------------------------------------------------------------------

    def backoff(self, failures: int) -> float:
        """Exponential backoff with jitter: a uniform draw in [half, all] of base * 2^(n-1)."""
        ceiling = min(self.backoff_max_s, self.backoff_s * 2 ** (failures - 1))
        return ceiling * (0.5 + 0.5 * self._rng.random())

    def delay(self, failure: Failure, failures: int) -> float:
        """The wait before the next try after the `failures`-th failure of an item: Retry-After
        (plus up to 10%, so waiting requests do not return all at once), else backoff."""
        if failure.retry_after is not None:
            return failure.retry_after * (1 + 0.1 * self._rng.random())
        return self.backoff(failures)


def pool_setting(name: str) -> property:
    """A client attribute that is its endpoint pool's `name` (`self.pool`): settable as it was
    before the pool existed."""
    return property(lambda self: getattr(self.pool, name), lambda self, value: setattr(self.pool, name, value))


async def sleep_unless(stop: asyncio.Event | None, seconds: float) -> bool:
    """Sleep `seconds` unless `stop` is set first; True when it was."""
    if stop is None:
        await asyncio.sleep(seconds)
        return False
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
        return True
    except asyncio.TimeoutError:
        return False


def run_sync(work: Callable[[], Awaitable[T]]) -> T:
    """The result of the coroutine `work()` from synchronous code: on a new event loop, or, when
    called from inside a running loop (a notebook, an async caller), on one in a thread of its own."""

    async def main() -> T:
        return await work()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()

