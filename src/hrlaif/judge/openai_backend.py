"""A judge behind any OpenAI-compatible chat server (OpenAI, vLLM, llama.cpp, TGI, ...).

Each question is rendered with its versioned template, asked at temperature 0 and parsed
strictly; nothing is guessed. What can go wrong with a remote labeler, and what happens:

- 429, 5xx, 408/409, timeouts, broken connections, malformed bodies: retried with exponential
  backoff and jitter (a `Retry-After` / `retry-after-ms` header sets the wait instead), at most
  `max_retries` times and within `retry_time_s` per item; after that the item is unscorable
  (`choice=None`, reason e.g. "http 503 after 5 attempts"). The openai client's own retries are
  off (`max_retries=0`), so this is the only retry policy.
- Several endpoints: requests go round robin; an endpoint failing `endpoint_failures` times in
  a row is skipped for a cooldown (5 s, doubling while it keeps failing, at most 60 s); one that
  answers 401/403/404 is dropped for the run. The run stops (HrlaifError) only when every
  endpoint has been dropped.
- An answer that is not exactly one option is re-asked (with a reminder of the options) up to
  `reask_limit` times, then unscorable with "unparseable: '<its first 40 characters>'".
- A 400 (or an error that mentions logprobs) while asking for logprobs is retried once without
  them; if that works the endpoint is asked without logprobs from then on. Option probabilities
  come from `top_logprobs` of the answer token when the server gives them, otherwise None.
- `write` (red-team attacks and rewrites) goes through the same loop: an empty reply is re-asked
  like an unparseable verdict, and a failed item comes back as None.
- A budget (`judge.budget`) is checked before every request; when the next one would pass it,
  requests in flight finish (their verdicts reach `on_verdict`) and `BudgetExhausted` is raised.

The API key (from `judge.api_key_file` when set, else `$<judge.api_key_env>`, else "none" for
local servers) is only handed to the openai client. It is never logged (the client redacts
headers; this module never logs requests) and every message this module builds from a server's
reply is scrubbed of it (the key and any run of 8 or more of its characters, before a message is cut:
hrlaif.redact); openai exceptions, which carry the request, never leave this module.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import logging
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm

from hrlaif.config import JudgeConfig, PolicyServerConfig
from hrlaif.errors import HrlaifError
from hrlaif.judge.base import Judge, OnVerdict, Question
from hrlaif.judge.budget import BudgetExhausted, JudgeBudget
from hrlaif.judge.templates import meaning_of, parse_choice, parse_final, render, shown_options, template_for
from hrlaif.records import Verdict
from hrlaif.redact import scrub

log = logging.getLogger(__name__)

_COOLDOWN_MAX_S = 60.0
REASONING_SUFFIX = "\n\nThink it through first if you need to. Then end your reply with a last line of the form 'Verdict: X', where X is {options}."


def read_api_key(config: JudgeConfig | PolicyServerConfig, section: str = "judge") -> str:
    """The key from `api_key_file` when set, else the env var `api_key_env`, else "none".
    `section` names the config section in errors (the judge's, or the policy server's)."""
    if config.api_key_file is not None:
        path = config.api_key_file.expanduser()
        try:
            key = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise HrlaifError(f"{section}.api_key_file {path}: cannot read it ({exc.strerror or type(exc).__name__})") from None
        if not key:
            raise HrlaifError(f"{section}.api_key_file {path}: the file is empty")
        return key
    key = os.environ.get(config.api_key_env, "").strip()
    return key or "none"


@dataclass
class _Endpoint:
    url: str
    failures: int = 0  # in a row
    trips: int = 0  # cooldowns in a row
    down_until: float = 0.0
    dropped: str = ""  # why it is out for the run
    logprobs: bool = True
    tokenize: str | None = None  # the tokenize route that works here; "" none does; None not probed yet
    token_ids: dict[str, list[int] | None] = field(default_factory=dict)  # text -> its token ids (None: unknown)
    constrain: bool = True  # False once the server rejected logit_bias


@dataclass
class _Reply:
    text: str
    prompt_tokens: int
    completion_tokens: int
    logprobs: Any = None


@dataclass
class _Failure:
    label: str  # "http 503", "timeout", "connection error", "malformed response"
    retryable: bool = True
    endpoint_fault: bool = True
    retry_after: float | None = None
    status: int | None = None
    message: str = ""


@dataclass
class _Job:
    """What one request loop is for: a verdict (a strictly parsed option) or a written text.
    `accept(reply, used_logprobs, reasks, prompt_tokens, completion_tokens)` gives the result,
    or None to re-ask with `reminder`; `fail(reason, prompt_tokens, completion_tokens)` gives
    the result of an item that could not be done."""

    chat: list[dict]
    max_tokens: int
    logprobs: bool
    accept: Callable[..., Any]
    fail: Callable[..., Any]
    reminder: str
    bad_reply: str  # how the failure reason names a reply `accept` rejected
    options: tuple[str, ...] = ()  # the option labels a verdict may be, for logit_bias


@dataclass
class _WriteFailure:
    reason: str


@dataclass
class _Run:
    stop: asyncio.Event
    semaphore: asyncio.Semaphore
    clients: dict[str, Any]
    probes: dict[str, asyncio.Lock] = field(default_factory=dict)
    fatal: list[BaseException] = field(default_factory=list)

    def fail(self, exc: BaseException) -> None:
        if not self.fatal:
            self.fatal.append(exc)
        self.stop.set()


def _retry_after(headers: Any) -> float | None:
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


def _server_message(body: Any) -> str:
    """The message of an error body, whole: scrub it before cutting it (hrlaif.redact)."""
    if isinstance(body, dict):
        error = body.get("error", body)
        message = error.get("message") if isinstance(error, dict) else error
        return str(message or "")
    return str(body or "")


def option_probs(logprobs: Any, options: tuple[str, ...], choice: str) -> dict[str, float] | None:
    """Probabilities of the options at the answer token, from `top_logprobs`; None without them."""
    try:
        content = getattr(logprobs, "content", None) or []
        for entry in content:
            token = (getattr(entry, "token", "") or "").strip().upper()
            if not token or not choice.upper().startswith(token):
                continue
            mass = dict.fromkeys(options, 0.0)
            for top in getattr(entry, "top_logprobs", None) or []:
                text = (getattr(top, "token", "") or "").strip().upper()
                matches = [o for o in options if text and o.upper().startswith(text)]
                if len(matches) == 1 and top.logprob is not None and math.isfinite(top.logprob):
                    mass[matches[0]] += math.exp(top.logprob)
            total = sum(mass.values())
            return {o: m / total for o, m in mass.items()} if total > 0 else None
    except (AttributeError, TypeError, ValueError):
        return None
    return None


class OpenAIJudge(Judge):
    """Asks an OpenAI-compatible server; see the module docstring for the failure policy."""

    def __init__(
        self,
        config: JudgeConfig,
        *,
        reask_limit: int = 2,
        retry_time_s: float | None = None,
        backoff_s: float = 0.5,
        backoff_max_s: float = 30.0,
        endpoint_failures: int = 3,
        endpoint_cooldown_s: float = 5.0,
        top_logprobs: int = 5,
    ) -> None:
        super().__init__()
        if not config.base_urls:
            raise HrlaifError("judge.backend=openai needs judge.base_urls, e.g. judge.base_urls=[http://127.0.0.1:8080/v1]")
        self.config = config
        self.name = f"openai:{config.model}"
        self.reask_limit = reask_limit
        self.retry_time_s = retry_time_s if retry_time_s is not None else max(120.0, 4 * config.timeout_s)
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.endpoint_failures = endpoint_failures
        self.endpoint_cooldown_s = endpoint_cooldown_s
        self.top_logprobs = top_logprobs
        self.budget = JudgeBudget(config.budget, config.prices, config.model, config.max_tokens)
        self._endpoints = [_Endpoint(url.rstrip("/")) for url in dict.fromkeys(config.base_urls)]
        self._next = 0
        self._rng = random.Random()
        self.__key = read_api_key(config)

    def __repr__(self) -> str:
        return f"OpenAIJudge(model={self.config.model!r}, base_urls={[e.url for e in self._endpoints]!r})"

    @property
    def cache_params(self) -> dict[str, Any]:
        """What, beside the question and template, decides an answer (for the cache key)."""
        c = self.config
        if c.reasoning:
            return {"reasoning": True, "max_completion_tokens": c.reasoning_max_tokens, "extra_body": c.extra_body}
        return {"temperature": 0.0, "max_tokens": c.max_tokens, "constrain": c.constrain, "extra_body": c.extra_body}

    def _scrub(self, text: str) -> str:
        return scrub(text, self.__key)

    # -- the synchronous entry point -------------------------------------------------------

    def ask(self, questions: list[Question], desc: str = "judging", on_verdict: OnVerdict | None = None) -> list[Verdict]:
        chats = [render(q) for q in questions]  # bad tasks or fields fail here, before any request
        if not questions:
            return []
        jobs = [self._verdict_job(q, chat) for q, chat in zip(questions, chats)]
        return self._run_sync(jobs, desc, on_verdict, failed=lambda v: not v.scorable, counter="unscorable", unit="q")

    def write(self, chats: list[list[dict]], *, max_tokens: int, desc: str = "writing") -> list[str | None]:
        """Text completions through the same request path (retries, endpoints, budget) as `ask`;
        an empty reply is re-asked like an unparseable verdict, then the item fails (None)."""
        if not chats:
            return []
        jobs = [self._write_job(chat, max_tokens) for chat in chats]
        results = self._run_sync(jobs, desc, None, failed=lambda r: isinstance(r, _WriteFailure), counter="failed_writes", unit="text")
        for index, result in enumerate(results):
            if isinstance(result, _WriteFailure):
                log.info("%s: write %d failed: %s", self.name, index, result.reason)
        return [None if isinstance(r, _WriteFailure) else r for r in results]

    def _run_sync(self, jobs: list[_Job], desc: str, on_result: Callable[[int, Any], None] | None,
                  *, failed: Callable[[Any], bool], counter: str, unit: str) -> list[Any]:
        def work():
            return self._run_all(jobs, desc, on_result, failed, counter, unit)

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(work())
        # Called from inside a running event loop: run ours in a thread of its own.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, work()).result()

    async def _run_all(
        self, jobs: list[_Job], desc: str, on_result: Callable[[int, Any], None] | None,
        failed: Callable[[Any], bool], counter: str, unit: str,
    ) -> list[Any]:
        from openai import AsyncOpenAI

        run = _Run(
            stop=asyncio.Event(),
            semaphore=asyncio.Semaphore(self.config.concurrency),
            clients={
                e.url: AsyncOpenAI(api_key=self.__key, base_url=e.url, max_retries=0, timeout=self.config.timeout_s)
                for e in self._endpoints
            },
        )
        results: list[Any] = [None] * len(jobs)
        done = [False] * len(jobs)
        bar = tqdm(total=len(jobs), desc=desc, unit=unit, disable=len(jobs) < 2 or None)  # None: off when not a terminal

        async def one(index: int) -> None:
            try:
                result = await self._converse(jobs[index], run)
                if result is None:
                    return
                results[index], done[index] = result, True
                if failed(result):
                    setattr(self.stats, counter, getattr(self.stats, counter) + 1)
                bar.update(1)
                bar.set_postfix({"retries": self.stats.retries, counter: getattr(self.stats, counter)}, refresh=False)
                if on_result is not None:
                    on_result(index, result)
            except Exception as exc:  # a failing callback or a bug: stop sending, keep what arrived
                run.fail(exc)

        try:
            await asyncio.gather(*(one(i) for i in range(len(jobs))))
        finally:
            bar.close()
            for client in run.clients.values():
                try:
                    await client.close()
                except Exception:  # closing must not hide the result
                    pass
        if run.fatal:
            raise run.fatal[0]
        missing = [i for i, ok in enumerate(done) if not ok]
        if missing:  # cannot happen without a fatal error; never return a short list silently
            raise RuntimeError(f"judge lost {len(missing)} answers")
        log.info(
            "%s: %d %s items, %d calls, %d retries, %d %s",
            self.name, len(jobs), unit, self.stats.calls, self.stats.retries, getattr(self.stats, counter), counter,
        )
        return results

    def _verdict_job(self, question: Question, chat: list[dict]) -> _Job:
        template = template_for(question.task)
        shown = shown_options(question)

        def accept(reply: _Reply, used_logprobs: bool, reasks: int, prompt_tokens: int, completion_tokens: int) -> Verdict | None:
            label = parse_final(reply.text, shown) if self.config.reasoning else parse_choice(reply.text, shown)
            if label is None:
                return None
            probs = option_probs(reply.logprobs, shown, label) if used_logprobs else None
            return Verdict(
                task=question.task, choice=meaning_of(question, label),
                probs={meaning_of(question, k): v for k, v in probs.items()} if probs else None,
                reason=f"parsed after {reasks} re-ask(s)" if reasks else "",
                judge=self.name, template_version=template.version,
                prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
            )

        def fail(reason: str, prompt_tokens: int, completion_tokens: int) -> Verdict:
            return Verdict(
                task=question.task, choice=None, reason=reason, judge=self.name,
                template_version=template.version, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
            )

        options = " or ".join(shown)
        if self.config.reasoning:
            chat = chat[:-1] + [dict(chat[-1], content=chat[-1]["content"] + REASONING_SUFFIX.format(options=options))]
            return _Job(chat, self.config.reasoning_max_tokens, False, accept, fail,
                        reminder=f"End your reply with a last line 'Verdict: <one of {options}>'.", bad_reply="unparseable")
        return _Job(chat, self.config.max_tokens, True, accept, fail,
                    reminder=f"Reply with exactly one of {options}, and nothing else.", bad_reply="unparseable", options=shown)

    def _write_job(self, chat: list[dict], max_tokens: int) -> _Job:
        def accept(reply: _Reply, used_logprobs: bool, reasks: int, prompt_tokens: int, completion_tokens: int) -> str | None:
            return self._scrub(reply.text).strip() or None

        return _Job(chat, max_tokens, False, accept, lambda reason, *_: _WriteFailure(reason),
                    reminder="Your reply was empty. Write the requested text.", bad_reply="empty reply")

    # -- one question ----------------------------------------------------------------------

    def _pick(self, now: float) -> tuple[_Endpoint, float]:
        """The next endpoint round robin that is not cooling down, or the one back soonest."""
        live = [e for e in self._endpoints if not e.dropped]
        if not live:
            reasons = "; ".join(f"{e.url}: {e.dropped}" for e in self._endpoints)
            raise HrlaifError(self._scrub(f"no judge endpoint is usable ({reasons})"))
        count = len(self._endpoints)
        for step in range(count):
            endpoint = self._endpoints[(self._next + step) % count]
            if not endpoint.dropped and endpoint.down_until <= now:
                self._next = (self._next + step + 1) % count
                return endpoint, 0.0
        soonest = min(live, key=lambda e: e.down_until)
        return soonest, soonest.down_until - now

    def _endpoint_failed(self, endpoint: _Endpoint, now: float) -> None:
        endpoint.failures += 1
        if endpoint.failures >= self.endpoint_failures and endpoint.down_until <= now:
            cooldown = min(_COOLDOWN_MAX_S, self.endpoint_cooldown_s * 2**endpoint.trips)
            endpoint.trips += 1
            endpoint.down_until = now + cooldown
            log.warning("judge endpoint %s failed %d times in a row; skipping it for %.1fs", endpoint.url, endpoint.failures, cooldown)

    def _backoff(self, failures: int) -> float:
        """Exponential backoff with jitter: a uniform draw in [half, all] of base * 2^(n-1)."""
        ceiling = min(self.backoff_max_s, self.backoff_s * 2 ** (failures - 1))
        return ceiling * (0.5 + 0.5 * self._rng.random())

    async def _converse(self, job: _Job, run: _Run) -> Any | None:
        """The result of one job (a verdict, a text, or the job's failure), or None when the run
        was stopped before it had one."""
        loop = asyncio.get_running_loop()
        chat = job.chat
        prompt_chars = sum(len(m["content"]) for m in chat)
        deadline = loop.time() + self.retry_time_s
        attempts = failures = reasks = prompt_tokens = completion_tokens = 0
        first_unparseable: str | None = None
        messages = chat
        without_logprobs = False

        def unscorable(reason: str) -> Any:
            return job.fail(self._scrub(reason), prompt_tokens, completion_tokens)

        last = _Failure("endpoint unavailable")
        while True:
            if run.stop.is_set():
                return None
            async with run.semaphore:
                if run.stop.is_set():
                    return None
                try:  # pick once a slot is free, so the choice sees what the requests before it found
                    endpoint, wait = self._pick(loop.time())
                except HrlaifError as exc:
                    run.fail(exc)
                    return None
                if wait <= 0:
                    bias = await self._option_bias(endpoint, job.options, run) if job.options else None
                    max_tokens = 1 if bias else job.max_tokens  # the first token is the verdict; more would be forced options too
                    try:
                        reservation = self.budget.reserve(prompt_chars, max_tokens)
                    except BudgetExhausted as exc:
                        run.fail(exc)
                        return None
                    attempts += 1
                    self.stats.calls += 1
                    if attempts > 1:
                        self.stats.retries += 1
                    use_logprobs = job.logprobs and endpoint.logprobs and not without_logprobs
                    outcome = await self._request(run.clients[endpoint.url], messages, use_logprobs, max_tokens, bias)
                    used = (outcome.prompt_tokens, outcome.completion_tokens) if isinstance(outcome, _Reply) else (0, 0)
                    self.stats.cost_usd += self.budget.settle(reservation, prompt_chars, *used)
            if wait > 0:  # every usable endpoint is cooling down: wait for the first back, without a slot
                if loop.time() + wait > deadline:
                    return unscorable(f"{last.label} after {attempts} attempts (every endpoint cooling down past the retry time limit)")
                if await self._sleep(run, wait):
                    return None
                continue

            now = loop.time()
            if isinstance(outcome, _Reply):
                endpoint.failures = endpoint.trips = 0
                if without_logprobs and endpoint.logprobs:
                    endpoint.logprobs = False
                    log.info("judge endpoint %s rejects logprobs; asking it without them", endpoint.url)
                prompt_tokens += outcome.prompt_tokens
                completion_tokens += outcome.completion_tokens
                self.stats.prompt_tokens += outcome.prompt_tokens
                self.stats.completion_tokens += outcome.completion_tokens
                result = job.accept(outcome, use_logprobs, reasks, prompt_tokens, completion_tokens)
                if result is not None:
                    return result
                if first_unparseable is None:
                    first_unparseable = outcome.text
                if reasks >= self.reask_limit:
                    return unscorable(f"{job.bad_reply}: {self._scrub(first_unparseable)[:40]!r}")  # scrubbed whole, then cut
                reasks += 1
                messages = chat + [{"role": "user", "content": job.reminder}]
                continue

            last = outcome
            if outcome.status in (401, 403, 404):
                endpoint.dropped = f"http {outcome.status} {outcome.message}".strip()
                log.warning("judge endpoint %s answered http %d; not using it again this run", endpoint.url, outcome.status)
                continue
            if bias and outcome.status == 400 and endpoint.constrain:
                endpoint.constrain = False  # a server that rejects logit_bias: ask it unconstrained from now on
                log.info("judge endpoint %s rejects logit_bias; asking it unconstrained", endpoint.url)
                continue
            if use_logprobs and (outcome.status == 400 or (outcome.status and "logprob" in outcome.message.lower())):
                without_logprobs = True  # perhaps it rejects logprobs (llama.cpp without logits_all: a 500): try once without
                continue
            if outcome.retry_after is not None:
                endpoint.down_until = max(endpoint.down_until, now + outcome.retry_after)
            elif outcome.endpoint_fault:
                self._endpoint_failed(endpoint, now)
            if not outcome.retryable:
                detail = f": {outcome.message}" if outcome.message else ""
                return unscorable(f"{outcome.label}{detail}")
            failures += 1
            if failures > self.config.max_retries:
                return unscorable(f"{outcome.label} after {attempts} attempts")
            if outcome.retry_after is not None:
                delay = outcome.retry_after * (1 + 0.1 * self._rng.random())
            else:
                delay = self._backoff(failures)
            if now + delay > deadline:
                return unscorable(f"{outcome.label} after {attempts} attempts (retry time limit {self.retry_time_s:g}s reached)")
            if await self._sleep(run, delay):
                return None

    @staticmethod
    async def _sleep(run: _Run, seconds: float) -> bool:
        """Sleep unless the run stops first; True when it stopped."""
        try:
            await asyncio.wait_for(run.stop.wait(), timeout=seconds)
            return True
        except asyncio.TimeoutError:
            return False

    async def _option_bias(self, endpoint: _Endpoint, options: tuple[str, ...], run: _Run) -> dict[str, int] | None:
        """logit_bias that allows only the option tokens, or None when they are not known to be one
        token each (then the reply is parsed as text). Ids come from `judge.option_token_ids`, else
        from the server's tokenize route (llama-cpp-python, llama.cpp, vLLM), probed once."""
        if not self.config.constrain or self.config.reasoning or not endpoint.constrain:
            return None
        ids: set[int] = set()
        for option in options:
            if option in self.config.option_token_ids:
                ids.update(self.config.option_token_ids[option])
                continue
            bare = await self._tokens(endpoint, option, run)
            if bare is None or len(bare) != 1:
                return None
            ids.update(bare)
            spaced = await self._tokens(endpoint, " " + option, run)
            if spaced is not None and len(spaced) == 1:
                ids.update(spaced)
        return {str(i): 100 for i in sorted(ids)} or None

    async def _tokens(self, endpoint: _Endpoint, text: str, run: _Run) -> list[int] | None:
        if text in endpoint.token_ids:
            return endpoint.token_ids[text]
        lock = run.probes.setdefault(endpoint.url, asyncio.Lock())
        async with lock:
            if text not in endpoint.token_ids:
                endpoint.token_ids[text] = await self._tokenize(endpoint, text, run.clients[endpoint.url])
        return endpoint.token_ids[text]

    async def _tokenize(self, endpoint: _Endpoint, text: str, client: Any) -> list[int] | None:
        import openai

        root = endpoint.url[: -len("/v1")] if endpoint.url.endswith("/v1") else endpoint.url
        routes = {
            "llama-cpp-python": ("/extras/tokenize", lambda t: {"input": t}),
            "llama.cpp": ("/tokenize", lambda t: {"content": t, "add_special": False}),
            "vllm": ("/tokenize", lambda t: {"model": self.config.model, "prompt": t, "add_special_tokens": False}),
        }
        if endpoint.tokenize == "":
            return None
        for name in [endpoint.tokenize] if endpoint.tokenize else list(routes):
            path, body = routes[name]
            try:
                tokens = (await client.post(root + path, body=body(text), cast_to=object)).get("tokens")
                empty = (await client.post(root + path, body=body(""), cast_to=object)).get("tokens") or []
            except (openai.OpenAIError, ValueError, AttributeError, TypeError):
                continue
            if isinstance(tokens, list) and all(isinstance(t, int) for t in tokens):
                endpoint.tokenize = name
                return tokens[len(empty):] if tokens[: len(empty)] == empty else tokens  # without a BOS the route adds
        if endpoint.tokenize is None:
            endpoint.tokenize = ""
            log.info("judge endpoint %s has no tokenize route; verdicts are parsed from unconstrained text", endpoint.url)
        return None

    async def _request(self, client: Any, messages: list[dict], use_logprobs: bool, max_tokens: int,
                       bias: dict[str, int] | None = None) -> _Reply | _Failure:
        """One HTTP request. Never raises an openai exception: those carry the request, headers included."""
        import openai

        c = self.config
        if c.reasoning:  # reasoning models reject max_tokens and temperature
            kwargs: dict[str, Any] = dict(model=c.model, messages=messages, max_completion_tokens=max_tokens)
        else:
            kwargs = dict(model=c.model, messages=messages, temperature=0.0, max_tokens=max_tokens)
        if bias:
            kwargs["logit_bias"] = bias
        if c.extra_body:
            kwargs["extra_body"] = dict(c.extra_body)
        if use_logprobs:
            kwargs.update(logprobs=True, top_logprobs=self.top_logprobs)
        try:
            completion = await client.chat.completions.create(**kwargs)
        except openai.APITimeoutError:
            return _Failure("timeout")
        except openai.APIConnectionError:
            return _Failure("connection error")
        except openai.APIStatusError as exc:
            status = exc.status_code
            retryable = status in (408, 409, 429) or status >= 500
            return _Failure(
                f"http {status}", retryable=retryable, endpoint_fault=status >= 500, status=status,
                retry_after=_retry_after(exc.response.headers) if retryable else None,
                message=self._scrub(_server_message(exc.body))[:200],  # scrubbed whole, then cut
            )
        except (openai.OpenAIError, ValueError) as exc:  # a body the client could not read (not JSON, wrong shape)
            return _Failure(f"malformed response ({type(exc).__name__})")
        try:
            choice = completion.choices[0]
            text = choice.message.content or ""
            usage = completion.usage
            return _Reply(
                text=text,
                prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
                logprobs=getattr(choice, "logprobs", None),
            )
        except (AttributeError, IndexError, TypeError, ValueError):
            return _Failure("malformed response")
