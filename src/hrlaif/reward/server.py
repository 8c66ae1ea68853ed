"""The hybrid reward behind HTTP, in the shape of OpenRLHF's remote reward model.

OpenRLHF (`--remote_rm_url http://HOST:PORT/get_reward`) posts
`{"query": [...], "prompts": [...], "labels": [...]}`: each query is the rendered prompt followed
by the policy's response, each prompt the rendered prompt alone, each label the dataset's
`--label_key` column. It reads `rewards` from the reply (and `scores`, `extra_logs` when present).

The rules need each row's category and key. A label is an object (or that object as a JSON
string) `{"category": ..., "reference": ..., "choices": [...]}`: the columns of hrlaif's prompt
files; or a plain reference answer (OpenRLHF's usual `--label_key answer`), whose category is
`reward_server.label_category` (infer: an option letter the prompt lists is multiple choice, with
the choices read from the prompt; anything else math); or empty, which leaves the row to the RM
(refused when no RM is loaded). The response the rules read is the query with its prompt cut off
and the special tokens OpenRLHF leaves in (it decodes with them kept) cut from its end: "B<|im_end|>"
reads as B. Left padding before the prompt is dropped too. The reward is the rule reward
(`hrlaif.reward.hybrid`; 0 where no rule applies) plus, when a reward model is loaded, the RM's
score of the whole query. A refused request is logged as one line with its status and reason.

Overload (issue 27): a crafted math row can hold the verifier for ppo.hybrid.verify_timeout_s, so a
batch of them could hold a server that scores one request at a time for hours. So a request is
bounded: more than `reward_server.max_request_bytes` (checked before parsing) or `max_rows` rows
gets 413; scoring runs off the event loop on up to `reward_server.concurrency` requests at once,
each with its own verifier process, so a slow batch does not hold up the others; and a request not
scored within `reward_server.request_timeout_s` gets 503 with how far it got. 503 and not the
rows left scored 0: a 0 for a row never checked is a wrong reward the trainer cannot tell from a
real one, while a 503 is loud and a client can retry or split the batch. The RM is shared: its
forward passes take turns.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import socket
import threading
import time
from typing import Any

import torch
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from hrlaif.config import HybridRewardConfig, RewardServerConfig
from hrlaif.errors import HrlaifError
from hrlaif.records import CATEGORIES
from hrlaif.reward.hybrid import hybrid_rewards
from hrlaif.verify.math import new_worker, using_worker

DEFAULT_PORT = 5000  # OpenRLHF's serve_rm default, so its example URLs work unchanged

logger = logging.getLogger(__name__)


class RewardRequest(BaseModel):
    """OpenRLHF's remote reward request. Unknown keys (datasources, token ids) are ignored."""

    model_config = ConfigDict(extra="ignore")

    query: list[str] = Field(description="Rendered prompt + response, one per sample.")
    prompts: list[str] = Field(description="The rendered prompt of each query; the response is what follows it.")
    labels: list[Any] = Field(description="Per sample {category, reference, choices}, as an object or a JSON string.")


class RowLabel(BaseModel):
    """What the rules need to know about one prompt (hrlaif's prompt-file columns)."""

    model_config = ConfigDict(extra="ignore")

    category: str
    reference: str | None = None
    choices: list[str] | None = None


class BadRequest(ValueError):
    """A request the server cannot score; its message goes back to the client as the reason."""

    status = 422


class TooLarge(BadRequest):
    """More rows than reward_server.max_rows."""

    status = 413


class Overloaded(BadRequest):
    """Not scored within reward_server.request_timeout_s."""

    status = 503


LETTER_RE = re.compile(r"^\(?([A-Za-z])\)?$")
OPTION_LINE_RE = re.compile(r"^\s*\(?([A-Z])(?:[.):]|\s*\))\s*(\S.*?)\s*$")


def prompt_options(prompt: str, special_tokens: list[str]) -> list[str] | None:
    """The option texts a rendered prompt lists ('A. Paris' / '(B) Rome' / 'C) ...' lines, from A
    on, in order): the last such run of two or more, so a few-shot example before it is skipped."""
    for token in special_tokens:
        prompt = prompt.replace(token, "\n")
    runs: list[list[str]] = []
    for line in prompt.splitlines():
        match = OPTION_LINE_RE.match(line)
        if not match:
            continue
        letter, text = match.groups()
        if letter == "A":
            runs.append([text])
        elif runs and ord(letter) - ord("A") == len(runs[-1]):
            runs[-1].append(text)
    runs = [run for run in runs if len(run) >= 2]
    return runs[-1] if runs else None


def parse_label(value: Any, row: int, prompt: str = "", *, settings: RewardServerConfig | None = None,
                special_tokens: list[str] | None = None) -> RowLabel | None:
    """One label: an object, a JSON string of one (OpenRLHF datasets often keep it as text), a plain
    reference answer (category from `settings.label_category`), or empty (None: no rule, the RM alone)."""
    settings = settings or RewardServerConfig()
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = None
        except RecursionError:  # a JSON string nested past Python's recursion limit
            raise BadRequest(f"labels[{row}]: the label's JSON is nested too deeply") from None
        if not isinstance(parsed, dict):
            text = parsed if isinstance(parsed, str) else value  # '"3/4"', a JSON-quoted answer, is 3/4
            if not text.strip():
                return None
            return reference_label(text.strip(), row, prompt, settings, special_tokens or settings.special_tokens)
        value = parsed
    if not isinstance(value, dict):
        raise BadRequest(f"labels[{row}]: needs a reference answer or an object with 'category' (and 'reference', 'choices' for keyed "
                         f"prompts), got {type(value).__name__}; with OpenRLHF, pass --label_key naming such a column")
    try:
        label = RowLabel.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise BadRequest(f"labels[{row}].{'.'.join(str(part) for part in first['loc'])}: {first['msg']}") from None
    if label.category not in CATEGORIES:
        raise BadRequest(f"labels[{row}]: unknown category {label.category!r} (known: {', '.join(CATEGORIES)})")
    if label.category == "multiple_choice" and not label.choices:  # the options the prompt lists
        label.choices = prompt_options(prompt, special_tokens or settings.special_tokens)
    return label


def reference_label(reference: str, row: int, prompt: str, settings: RewardServerConfig, special_tokens: list[str]) -> RowLabel:
    """A plain reference answer: multiple choice when it is one option letter the prompt lists
    (or reward_server.label_category says so), math otherwise."""
    letter = LETTER_RE.match(reference)
    if settings.label_category == "math":
        return RowLabel(category="math", reference=reference)
    options = prompt_options(prompt, special_tokens) if letter else None
    if options is not None and ord(letter.group(1).upper()) - ord("A") < len(options):
        return RowLabel(category="multiple_choice", reference=letter.group(1).upper(), choices=options)
    if settings.label_category == "multiple_choice":
        raise BadRequest(f"labels[{row}]: reward_server.label_category is multiple_choice, but {reference[:80]!r} is not the letter "
                         "of an option the prompt lists (lines 'A. ...', 'B. ...'); send an object with 'choices' instead")
    return RowLabel(category="math", reference=reference)


def strip_leading(query: str, prompt: str, special_tokens: list[str]) -> str:
    """The query without left padding before its prompt (pad tokens decoded as text)."""
    while not query.startswith(prompt):
        for token in special_tokens:
            if token and query.startswith(token):
                query = query[len(token):]
                break
        else:
            return query
    return query


def strip_trailing(text: str, special_tokens: list[str]) -> str:
    """`text` without the special tokens (and whitespace) at its end: 'B<|im_end|><pad>' -> 'B'."""
    text = text.rstrip()
    while True:
        for token in special_tokens:
            if token and text.endswith(token):
                text = text[: -len(token)].rstrip()
                break
        else:
            return text


def split_response(query: str, prompt: str, row: int) -> str:
    """The response part of a query: what follows its prompt."""
    if not query.startswith(prompt):
        raise BadRequest(f"query[{row}] does not start with prompts[{row}]; the response is what follows the prompt")
    return query[len(prompt):].strip()


class RewardScorer:
    """Rule reward plus, optionally, an RM's score; `score` takes a parsed request."""

    def __init__(self, config: HybridRewardConfig, reward_model=None, tokenizer=None, max_length: int = 1024,
                 settings: RewardServerConfig | None = None):
        self.config = config
        self.reward_model = reward_model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.settings = settings or RewardServerConfig()
        own = list(getattr(tokenizer, "all_special_tokens", None) or []) if tokenizer is not None else []
        # longest first, so '<|endoftext|>' is not cut as a shorter token that ends it
        self.special_tokens = sorted(dict.fromkeys([*self.settings.special_tokens, *own]), key=len, reverse=True)
        self._lock = threading.Lock()  # the RM's forward passes take turns
        # one verifier process per request scored at once: a worker runs one check at a time
        self._workers: queue.Queue = queue.Queue()
        for _ in range(self.settings.concurrency):
            self._workers.put(new_worker())

    def start_workers(self) -> None:
        """Boot every verifier process now, so no request waits for sympy's import."""
        workers = [self._workers.get() for _ in range(self.settings.concurrency)]
        try:
            for worker in workers:
                worker.start()
        finally:
            for worker in workers:
                self._workers.put(worker)

    @torch.no_grad()
    def rm_scores(self, queries: list[str], batch_size: int = 8) -> list[float]:
        """The RM's score of each query as sent (already rendered with the chat template)."""
        tok = self.tokenizer
        side, trunc = tok.padding_side, tok.truncation_side
        tok.padding_side, tok.truncation_side = "right", "left"  # a long prompt loses its start, as in PPO
        scores: list[float] = []
        try:
            for start in range(0, len(queries), batch_size):
                batch = tok(queries[start:start + batch_size], return_tensors="pt", padding=True, truncation=True,
                            max_length=self.max_length, add_special_tokens=False)
                device = next(self.reward_model.parameters()).device
                scores.extend(self.reward_model(**batch.to(device)).logits[:, 0].float().tolist())
        finally:
            tok.padding_side, tok.truncation_side = side, trunc
        return scores

    def score(self, request: RewardRequest, deadline: float | None = None) -> dict:
        """Rewards for a request; `deadline` (time.monotonic(); default reward_server.request_timeout_s
        from now) bounds the scoring: Overloaded when it passes."""
        if deadline is None:
            deadline = time.monotonic() + self.settings.request_timeout_s
        n = len(request.query)
        if n > self.settings.max_rows:
            raise TooLarge(f"{n} rows in one request, more than reward_server.max_rows={self.settings.max_rows}; send smaller batches")
        for name in ("prompts", "labels"):
            if len(getattr(request, name)) != n:
                raise BadRequest(f"{len(getattr(request, name))} {name} for {n} queries; send one per query")
        queries = [strip_leading(q, p, self.special_tokens) for q, p in zip(request.query, request.prompts)]
        labels = [parse_label(value, i, p, settings=self.settings, special_tokens=self.special_tokens)
                  for i, (value, p) in enumerate(zip(request.labels, request.prompts))]
        unlabeled = [i for i, label in enumerate(labels) if label is None]
        if unlabeled and self.reward_model is None:
            raise BadRequest(f"labels[{unlabeled[0]}] is empty ({len(unlabeled)} of {n} labels) and no reward model is loaded: send a reference "
                             "answer or an object with 'category' (with OpenRLHF, pass --label_key naming such a column), or start the server with --rm")
        responses = [strip_trailing(split_response(q, p, i), self.special_tokens) for i, (q, p) in enumerate(zip(queries, request.prompts))]
        keyed = [i for i, label in enumerate(labels) if label is not None]
        found = self._rule_rewards(request.prompts, responses, labels, keyed, deadline)
        rm = None
        if self.reward_model is not None and n:
            with self._lock:
                rm = self.rm_scores(queries)
        rules: list[float | None] = [None] * n
        for i, reward in zip(keyed, found):
            rules[i] = reward
        rule_part = [0.0 if r is None else r for r in rules]
        rewards = [r + s for r, s in zip(rule_part, rm)] if rm is not None else rule_part
        extra_logs = {"hybrid_rule": rule_part, "hybrid_applies": [float(r is not None) for r in rules]}
        if rm is not None:
            extra_logs["rm_score"] = rm
        # scores: what OpenRLHF's dynamic filtering reads; the reward itself, as its own examples do.
        return {"rewards": rewards, "scores": rewards, "extra_logs": extra_logs}

    def _rule_rewards(self, prompts: list[str], responses: list[str], labels: list[RowLabel | None], keyed: list[int],
                      deadline: float) -> list[float | None]:
        """The rule reward of each keyed row, checked with a verifier process of this request's own;
        Overloaded when `deadline` passes first (a row cut short by it is not scored as unknown)."""
        if not keyed:
            return []  # the RM alone: no verifier to wait for
        timeout = self.settings.request_timeout_s
        try:
            worker = self._workers.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise Overloaded(f"no scorer free within reward_server.request_timeout_s={timeout:g}s (all reward_server.concurrency="
                             f"{self.settings.concurrency} busy); retry later") from None
        found: list[float | None] = []
        try:
            with using_worker(worker):
                for done, i in enumerate(keyed):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise self._late(done, len(keyed))
                    config = self.config
                    if left < config.verify_timeout_s:
                        config = config.model_copy(update={"verify_timeout_s": left})
                    try:
                        found.extend(hybrid_rewards([prompts[i]], [responses[i]], categories=[labels[i].category],
                                                    references=[labels[i].reference], choices=[labels[i].choices], config=config))
                    except HrlaifError as exc:
                        raise BadRequest(_renumber(str(exc), [i])) from None
                    if config is not self.config and time.monotonic() >= deadline:
                        raise self._late(done, len(keyed))  # its check was cut short: its 0 would not be the verifier's
        finally:
            self._workers.put(worker)
        return found

    def _late(self, done: int, total: int) -> Overloaded:
        return Overloaded(f"not scored within reward_server.request_timeout_s={self.settings.request_timeout_s:g}s: {done} of {total} "
                          "keyed rows checked (a crafted math row can take ppo.hybrid.verify_timeout_s); send smaller batches")


def _renumber(message: str, rows: list[int]) -> str:
    """hybrid_rewards numbers the rows it was given; say the request's row instead."""
    match = re.search(r"\brow (\d+)\b", message)
    if match and int(match.group(1)) < len(rows):
        message = f"{message[:match.start(1)]}{rows[int(match.group(1))]}{message[match.end(1):]}"
    return message


def refused(request: Request, status: int, reason: str) -> JSONResponse:
    """The refusal the client gets, and one log line saying it (status and reason, never the body)."""
    logger.warning("refused %s %s: %d %s", request.method, request.url.path, status, reason[:300])
    return JSONResponse({"error": reason}, status_code=status)


def create_app(scorer: RewardScorer) -> FastAPI:
    app = FastAPI(title="hrlaif reward server", docs_url=None, redoc_url=None)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"] if part != "body") or "body"
        return refused(request, 422, f"{where}: {first['msg']}")

    @app.exception_handler(BadRequest)
    async def bad(request: Request, exc: BadRequest) -> JSONResponse:
        return refused(request, exc.status, str(exc))

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "reward_model": scorer.reward_model is not None}

    @app.post("/get_reward")
    async def get_reward(request: RewardRequest) -> dict:
        # the deadline runs from here; the scoring runs in a thread, so the loop serves others meanwhile
        deadline = time.monotonic() + scorer.settings.request_timeout_s
        return await run_in_threadpool(scorer.score, request, deadline)

    return BodyLimit(app, scorer.settings.max_request_bytes)


class BodyLimit:
    """ASGI wrapper: a POST body over `limit` bytes gets 413 before anything parses it (by its
    Content-Length, or while reading a chunked one); a smaller one is passed on as read."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await self._refuse(scope, send, f"{int(length)} bytes")
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.limit:
                return await self._refuse(scope, send, f"more than {self.limit} bytes")
            if not message.get("more_body", False):
                break

        async def replay():
            return messages.pop(0) if messages else await receive()

        return await self.app(scope, replay, send)

    async def _refuse(self, scope, send, size: str) -> None:
        reason = f"request body of {size}, more than reward_server.max_request_bytes={self.limit}; send smaller batches"
        logger.warning("refused %s %s: 413 %s", scope["method"], scope["path"], reason)
        response = JSONResponse({"error": reason}, status_code=413)
        await response(scope, None, send)


def load_scorer(config: HybridRewardConfig, reward_model: str | None, max_length: int,
                settings: RewardServerConfig | None = None) -> RewardScorer:
    """The scorer, with the RM (and its tokenizer) loaded when a path is given."""
    if reward_model is None:
        return RewardScorer(config, settings=settings)
    from hrlaif.models import load_reward_model, load_tokenizer

    model = load_reward_model(reward_model)
    tokenizer = load_tokenizer(reward_model, padding_side="right")
    model.config.pad_token_id = tokenizer.pad_token_id  # placed on the accelerator by load_reward_model
    return RewardScorer(config, model.eval(), tokenizer, max_length, settings)


def listen(host: str, port: int, command: str = "reward-server") -> socket.socket:
    """The server's socket, bound before any model loads: a port out of range, a taken port or a
    bad address fails at once with our message (uvicorn alone would report it after loading, with
    exit 1 or 3). `human-eval serve` binds its socket here too."""
    if not 1 <= port <= 65535:  # socket would raise OverflowError, not OSError
        raise HrlaifError(f"{command}: --port {port}: a port is a number from 1 to 65535")
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:  # UnicodeError: a host name idna cannot encode
        raise HrlaifError(f"{command}: cannot listen on {host}:{port} ({getattr(exc, 'strerror', None) or exc}): check --host") from None
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise HrlaifError(f"{command}: cannot listen on {host}:{port} ({exc.strerror or exc}): another server may hold it; choose another --port") from None
    return sock


def serve(scorer: RewardScorer, sock: socket.socket) -> None:
    """Run the server with uvicorn on `sock` until interrupted (access log off: it would only say 200 per batch)."""
    import uvicorn

    if not logger.handlers:  # refusals go to stderr, whatever the root logger is set to
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("reward-server: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    scorer.start_workers()
    uvicorn.Server(uvicorn.Config(create_app(scorer), access_log=False, log_level="warning")).run(sockets=[sock])
