"""A judge behind any OpenAI-compatible chat server (OpenAI, vLLM, llama.cpp, TGI, ...).

Each question is rendered with its versioned template, asked at temperature 0 and parsed
strictly; nothing is guessed. Endpoints, the key, status classes, retry waits and cooldowns are
hrlaif.endpoints' (shared with the served policy, hrlaif.serving); the option-token constraint is
hrlaif.judge.logit_bias'; this module keeps the jobs, the request loop and verdict parsing. What can
go wrong with a remote labeler, and what happens:

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
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import openai
from tqdm.auto import tqdm

from hrlaif.config import JudgeConfig
from hrlaif.endpoints import EndpointPool, Failure, pool_setting, run_sync, sleep_unless
from hrlaif.errors import HrlaifError
from hrlaif.judge.base import Judge, OnVerdict, Question
from hrlaif.judge.budget import BudgetExhausted, JudgeBudget
from hrlaif.judge.logit_bias import OptionBias
from hrlaif.judge.templates import Templates, load_templates, meaning_of, parse_choice, parse_final, render, shown_options
from hrlaif.records import Verdict

log = logging.getLogger(__name__)

REASONING_SUFFIX = "\n\nThink it through first if you need to. Then end your reply with a last line of the form 'Verdict: X', where X is {options}."


@dataclass
class _Reply:
    text: str
    prompt_tokens: int
    completion_tokens: int
    logprobs: Any = None


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
        templates: Templates | None = None,
    ) -> None:
        super().__init__(load_templates(config.templates_dir) if templates is None else templates)
        if not config.base_urls:
            raise HrlaifError("judge.backend=openai needs judge.base_urls, e.g. judge.base_urls=[http://127.0.0.1:8080/v1]")
        self.config = config
        self.name = f"openai:{config.model}"
        self.reask_limit = reask_limit
        self.retry_time_s = retry_time_s if retry_time_s is not None else max(120.0, 4 * config.timeout_s)
        self.top_logprobs = top_logprobs
        self.budget = JudgeBudget(config.budget, config.prices, config.model, config.max_tokens)
        self.pool = EndpointPool(
            config, section="judge", unusable="no judge endpoint is usable ({reasons})", name="judge endpoint",
            backoff_s=backoff_s, backoff_max_s=backoff_max_s, endpoint_failures=endpoint_failures, endpoint_cooldown_s=endpoint_cooldown_s,
        )
        self.option_bias = OptionBias(config)
        self._without_logprobs: set[str] = set()  # endpoints that rejected logprobs

    # the pool's waits, settable on the judge as before the pool existed (tests shorten them)
    backoff_s = pool_setting("backoff_s")
    backoff_max_s = pool_setting("backoff_max_s")
    endpoint_failures = pool_setting("endpoint_failures")
    endpoint_cooldown_s = pool_setting("endpoint_cooldown_s")

    def __repr__(self) -> str:
        return f"OpenAIJudge(model={self.config.model!r}, base_urls={self.pool.urls!r})"

    @property
    def cache_params(self) -> dict[str, Any]:
        """What, beside the question and template, decides an answer (for the cache key)."""
        c = self.config
        if c.reasoning:
            return {"reasoning": True, "max_completion_tokens": c.reasoning_max_tokens, "extra_body": c.extra_body}
        return {"temperature": 0.0, "max_tokens": c.max_tokens, "constrain": c.constrain, "extra_body": c.extra_body}

    def _scrub(self, text: str) -> str:
        return self.pool.scrub(text)

    # -- the synchronous entry point -------------------------------------------------------

    def ask(self, questions: list[Question], desc: str = "judging", on_verdict: OnVerdict | None = None) -> list[Verdict]:
        chats = [render(q, self.templates) for q in questions]  # bad tasks or fields fail here, before any request
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
        return run_sync(lambda: self._run_all(jobs, desc, on_result, failed, counter, unit))

    async def _run_all(
        self, jobs: list[_Job], desc: str, on_result: Callable[[int, Any], None] | None,
        failed: Callable[[Any], bool], counter: str, unit: str,
    ) -> list[Any]:
        async with self.pool.clients() as clients:
            run = _Run(stop=asyncio.Event(), semaphore=asyncio.Semaphore(self.config.concurrency), clients=clients)
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
        template = self.templates[question.task]
        shown = shown_options(question, self.templates)

        def accept(reply: _Reply, used_logprobs: bool, reasks: int, prompt_tokens: int, completion_tokens: int) -> Verdict | None:
            label = parse_final(reply.text, shown) if self.config.reasoning else parse_choice(reply.text, shown)
            if label is None:
                return None
            probs = option_probs(reply.logprobs, shown, label) if used_logprobs else None
            return Verdict(
                task=question.task, choice=meaning_of(question, label, self.templates),
                probs={meaning_of(question, k, self.templates): v for k, v in probs.items()} if probs else None,
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

        last = Failure("endpoint unavailable")
        while True:
            if run.stop.is_set():
                return None
            async with run.semaphore:
                if run.stop.is_set():
                    return None
                try:  # pick once a slot is free, so the choice sees what the requests before it found
                    endpoint, wait = self.pool.pick(loop.time())
                except HrlaifError as exc:
                    run.fail(exc)
                    return None
                if wait <= 0:
                    client = run.clients[endpoint.url]
                    bias = await self.option_bias.bias(endpoint.url, client, job.options, run.probes) if job.options else None
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
                    use_logprobs = job.logprobs and endpoint.url not in self._without_logprobs and not without_logprobs
                    outcome = await self._request(client, messages, use_logprobs, max_tokens, bias)
                    used = (outcome.prompt_tokens, outcome.completion_tokens) if isinstance(outcome, _Reply) else (0, 0)
                    self.stats.cost_usd += self.budget.settle(reservation, prompt_chars, *used)
            if wait > 0:  # every usable endpoint is cooling down: wait for the first back, without a slot
                if loop.time() + wait > deadline:
                    return unscorable(f"{last.label} after {attempts} attempts (every endpoint cooling down past the retry time limit)")
                if await sleep_unless(run.stop, wait):
                    return None
                continue

            now = loop.time()
            if isinstance(outcome, _Reply):
                self.pool.succeeded(endpoint)
                if without_logprobs and endpoint.url not in self._without_logprobs:
                    self._without_logprobs.add(endpoint.url)
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
            if self.pool.refused(endpoint, outcome):  # 401/403/404: dropped for the run, ask another
                continue
            if bias and outcome.status == 400 and self.option_bias.accepted(endpoint.url):
                self.option_bias.rejected(endpoint.url)  # a server that rejects logit_bias: ask it unconstrained from now on
                continue
            if use_logprobs and (outcome.status == 400 or (outcome.status and "logprob" in outcome.message.lower())):
                without_logprobs = True  # perhaps it rejects logprobs (llama.cpp without logits_all: a 500): try once without
                continue
            self.pool.failed(endpoint, outcome, now)
            if not outcome.retryable:
                detail = f": {outcome.message}" if outcome.message else ""
                return unscorable(f"{outcome.label}{detail}")
            failures += 1
            if failures > self.config.max_retries:
                return unscorable(f"{outcome.label} after {attempts} attempts")
            delay = self.pool.delay(outcome, failures)
            if now + delay > deadline:
                return unscorable(f"{outcome.label} after {attempts} attempts (retry time limit {self.retry_time_s:g}s reached)")
            if await sleep_unless(run.stop, delay):
                return None

    async def _request(self, client: Any, messages: list[dict], use_logprobs: bool, max_tokens: int,
                       bias: dict[str, int] | None = None) -> _Reply | Failure:
        """One HTTP request. Never raises an openai exception: those carry the request, headers included."""
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
        except (openai.OpenAIError, ValueError) as exc:  # ValueError: a body the client could not read (not JSON, wrong shape)
            return self.pool.failure(exc)
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
            return Failure("malformed response")
