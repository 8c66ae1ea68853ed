"""One small OpenAI-compatible server on 127.0.0.1 with fault injection, for the judge tests and
the tests of the openai generation backend (hrlaif.serving).

Endpoints:

- POST /v1/chat/completions: a canned chat completion (the `answer` function of the request body
  decides the text), a usage block and, when asked, logprobs; a `logit_bias` request (constrained
  decoding) gets only the allowed tokens.
- POST /v1/completions: "<seed>| <last 3 words of the prompt> w0 w1 ..." (`words` words), cut to
  `max_tokens` words: when the text had more words than that, finish_reason is "length", else "stop".
- GET /v1/models lists `model` (the default, "fake-judge", is the judge tests' model; the serving
  tests pass model="served-policy").
- POST /extras/tokenize, when `tokenize`: llama-cpp-python's tokenizer endpoint (see fake_tokens).

Faults are taken in order from `script` first, then drawn per request at the rates in `faults`;
a request that draws none gets `fault` ("ok" unless set, e.g. fault="503" for every request).
One vocabulary for both endpoints:

- "<status>" (e.g. "400", "401", "429", "500", "503"): that HTTP status. On chat completions the
  messages are "rate limited", "invalid api key", "server error", and a 429 always carries
  `Retry-After` (`retry_after` seconds, 1 when None; plus `retry-after-ms` when `retry_after_ms`
  is set); on completions the message is "injected <status>" and a 429 carries `Retry-After` only
  when `retry_after` is set (as the two servers this one replaces answered; the tests of each were
  written against that)
- "hang": no answer for `hang_s` (longer than the client timeout), then the connection closes
- "drop": the connection is closed without any response
- "malformed": HTTP 200 whose body is not JSON; "html": HTTP 200 with an HTML page
- "garbage": chat completions: a well-formed completion whose text is not an option; completions:
  HTTP 200 whose body is not JSON, the same as "malformed" (each endpoint keeps the meaning its
  tests were written for)
- "auth_echo_400": HTTP 400 whose error message quotes the Authorization header it received
- "echo_text", "echo" (synonyms): a well-formed completion whose text starts with the
  Authorization header ("<auth> is what you sent me." on chat, "<auth> <canned text>" on completions)
- "echo_<status>" (e.g. "echo_401", "echo_500"): that status, with the Authorization header at
  character ECHO_AT of the error message, so a message cut to 200 characters ends inside the key

Every request to either completions endpoint is logged in one log (`log`, also `completions`):
its fault, Authorization header, prompt, body, time, and how many requests were in flight when it
arrived (`max_in_flight` keeps the most). The usage of every completion actually sent is summed,
so tests can check the client's accounting.
"""

from __future__ import annotations

import json
import random
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ECHO_AT = 160
"""Where the "echo_<status>" faults put the Authorization header in their error message."""


def echo_message(auth: str | None) -> str:
    """An error message quoting the Authorization header at character ECHO_AT (the "echo_<status>" faults)."""
    return "request rejected: ".ljust(ECHO_AT, ".") + f"{auth} (as received)"


FENCED = re.compile(r"<<<data (\w+)>>>\n(.*?)\n<<<end \1>>>", re.DOTALL)


def fields_of(body: dict) -> dict[str, str]:
    """The fenced fields of the judge prompt, read back the way a model would see them."""
    text = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
    return {name: value for name, value in FENCED.findall(text)}


def prompt_of(body: dict) -> str:
    """The first user message of a chat request, or the prompt of a completions request."""
    if "messages" not in body:
        return str(body.get("prompt", ""))
    users = [m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user"]
    return users[0] if users else ""


_LABELLED = re.compile(r"Answer with exactly one letter: ([^\n]*?)\.(?:\n|$)")


def labels_of(body: dict) -> dict[str, str]:
    """{option name: letter shown} when the question shows its options as letters with names in
    brackets ("... one letter: D (no) or K (yes)."), e.g. {"no": "D", "yes": "K"}; else {}."""
    m = _LABELLED.search(prompt_of(body))
    return {name: letter for letter, name in re.findall(r"([A-Z]) \(([^)]+)\)", m.group(1))} if m else {}


def say(body: dict, name: str, fallback: str) -> str:
    """The letter shown for option `name` ("yes", "harmful", ...), or `fallback` when options are not relabeled."""
    return labels_of(body).get(name, fallback)


def longer_wins(body: dict) -> str:
    """An honest-by-rule judge: in a preference, the longer response wins; otherwise yes."""
    fields = fields_of(body)
    if "response_a" in fields and "response_b" in fields:
        return "A" if len(fields["response_a"]) >= len(fields["response_b"]) else "B"
    return say(body, "yes", "YES")


@dataclass
class Request:
    """One logged request. Fields read as attributes (`r.fault`) or as keys (`r["fault"]`)."""

    n: int
    path: str
    fault: str
    auth: str | None
    prompt: str
    logprobs: bool
    reask: bool
    time: float
    body: dict = field(default_factory=dict)
    in_flight: int = 1  # requests in flight when it arrived, itself included

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    @property
    def chat(self) -> bool:
        return self.path.rstrip("/").endswith("/chat/completions")


@dataclass
class FakeOpenAIServer:
    answer: Callable[[dict], str | tuple[str, dict[str, float]]] = longer_wins  # chat: text, or (text, top logprobs)
    faults: dict[str, float] = field(default_factory=dict)  # fault -> rate, drawn per request after the script
    script: list[str] = field(default_factory=list)  # faults taken in order first
    fault: str = "ok"  # what a request gets when neither the script nor the rates give it a fault
    retry_after: int | None = None  # seconds a 429 asks for; None: 1 on chat completions, no header on completions
    retry_after_ms: int | None = None
    hang_s: float = 3.0
    delay_s: float | None = None  # per answer; None: 0 on chat, 0.05 s on completions (so concurrent generations overlap)
    words: int = 6  # completions: words of the canned answer before max_tokens applies
    logprobs: bool = True
    reject_logprobs: bool = False
    model: str = "fake-judge"
    seed: int = 0
    tokenize: bool = False  # serve llama-cpp-python's /extras/tokenize (one token per capital letter, with or without a space)
    reject_params: tuple[str, ...] = ()  # request keys answered with a 400, as reasoning models do for max_tokens / temperature

    def __post_init__(self) -> None:
        self.log: list[Request] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.prompt_tokens_sent = 0
        self.completion_tokens_sent = 0
        self._lock = threading.Lock()
        self._rng = random.Random(self.seed)
        self._script = list(self.script)
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        handler = type("Handler", (_Handler,), {"owner": self})
        server_class = type("Server", (ThreadingHTTPServer,), {"request_queue_size": 256})  # default 5 drops bursts
        self._httpd = server_class(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    # -- what happened ---------------------------------------------------------------------

    @property
    def completions(self) -> list[Request]:
        """Every request to either completions endpoint, in arrival order (a copy of the log)."""
        with self._lock:
            return list(self.log)

    @property
    def count(self) -> int:
        return len(self.completions)

    def faults_seen(self) -> Counter:
        return Counter(r.fault for r in self.completions)

    def auth_headers(self) -> set[str | None]:
        return {r.auth for r in self.completions}

    def answered(self) -> list[str]:
        """Prompts of the requests that got a completion back (ok, echo, or chat's garbage)."""
        return [r.prompt for r in self.completions if r.fault in ("ok", "echo", "echo_text") or (r.fault == "garbage" and r.chat)]

    # -- decisions -------------------------------------------------------------------------

    def _draw(self) -> str:
        with self._lock:
            if self._script:
                return self._script.pop(0)
            roll = self._rng.random()
        for name, rate in self.faults.items():
            if roll < rate:
                return name
            roll -= rate
        return self.fault


def fake_tokens(text: str) -> list[int]:
    """The fake server's tokenizer: a capital letter (optionally after a space) is one token;
    anything else is one token per character, plus 1000."""
    if re.fullmatch(r" ?[A-Z]", text):
        return [ord(text[-1]) + (100 if text.startswith(" ") else 0)]
    return [1000 + ord(c) for c in text]


def fake_text(token: int) -> str:
    return chr(token - 100) if 165 <= token <= 190 else chr(token) if 65 <= token <= 90 else chr(token - 1000)


def answer_for(body: dict, words: int) -> tuple[str, str]:
    """The canned text of a /v1/completions request and its finish_reason."""
    tail = body["prompt"].split()[-3:]
    text = [f"{body.get('seed')}|", *tail, *(f"w{i}" for i in range(words))][:words]
    return " ".join(text[: body["max_tokens"]]), "length" if len(text) > body["max_tokens"] or words > body["max_tokens"] else "stop"


def dead_url() -> str:
    """A base URL where nothing listens: connections are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


class _Handler(BaseHTTPRequestHandler):
    owner: FakeOpenAIServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._send_json(200, {"object": "list", "data": [{"id": self.owner.model, "object": "model"}]})
        else:
            self._send_json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        server = self.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._send_json(400, {"error": {"message": "body is not JSON"}})
            return
        path = self.path.rstrip("/")
        if path == "/extras/tokenize" and server.tokenize:
            self._send_json(200, {"tokens": fake_tokens(str(body.get("input", "")))})
            return
        if not path.endswith("/completions"):  # /v1/chat/completions or /v1/completions
            self._send_json(404, {"error": {"message": "not found"}})
            return
        chat = path.endswith("/chat/completions")
        fault = server._draw()
        wants_logprobs = bool(body.get("logprobs"))
        with server._lock:
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
            server.log.append(
                Request(
                    n=len(server.log), path=self.path, fault=fault, auth=self.headers.get("Authorization"),
                    prompt=prompt_of(body), logprobs=wants_logprobs, reask=len(body.get("messages", [])) > 2,
                    time=time.monotonic(), body=body, in_flight=server.in_flight,
                )
            )
        try:
            self._answer(body, fault, chat, wants_logprobs)
        finally:
            with server._lock:
                server.in_flight -= 1

    def _answer(self, body: dict, fault: str, chat: bool, wants_logprobs: bool) -> None:
        server = self.owner
        auth = self.headers.get("Authorization")
        if fault.isdigit():
            status = int(fault)
            if not chat:  # the completions endpoint's errors: "injected <status>", Retry-After only when set
                retry = {"Retry-After": str(server.retry_after)} if status == 429 and server.retry_after is not None else None
                self._send_json(status, {"error": {"message": f"injected {status}"}}, retry)
            elif status == 429:
                headers = {"Retry-After": str(1 if server.retry_after is None else server.retry_after)}
                if server.retry_after_ms is not None:
                    headers["retry-after-ms"] = str(server.retry_after_ms)
                self._send_json(429, {"error": {"message": "rate limited", "type": "rate_limit"}}, headers)
            else:
                message = {401: "invalid api key", 500: "server error", 503: "server error"}.get(status, f"injected {status}")
                self._send_json(status, {"error": {"message": message}})
        elif fault == "auth_echo_400":
            self._send_json(400, {"error": {"message": f"bad request from {auth}"}})
        elif fault.startswith("echo_") and fault[5:].isdigit():
            self._send_json(int(fault[5:]), {"error": {"message": echo_message(auth)}})
        elif fault == "hang":
            server._stopping.wait(server.hang_s)
            self.close_connection = True
        elif fault == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        elif fault == "malformed" or (fault == "garbage" and not chat):
            self._send_json(200, b"{this is not json")
        elif fault == "html":
            page = b"<html><body>502 Bad Gateway (but sent as 200)</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
        elif chat and wants_logprobs and server.reject_logprobs:
            self._send_json(400, {"error": {"message": "logprobs are not supported"}})
        elif any(key in body for key in server.reject_params):
            bad = next(key for key in server.reject_params if key in body)
            self._send_json(400, {"error": {"message": f"Unsupported parameter: '{bad}' is not supported with this model."}})
        elif not chat:
            time.sleep(0.05 if server.delay_s is None else server.delay_s)
            self._complete_text(body, echo=auth if fault in ("echo", "echo_text") else None)
        else:
            if server.delay_s:
                time.sleep(server.delay_s)
            if fault == "garbage":
                answer = "I think both responses have merit."
            elif fault in ("echo", "echo_text"):
                answer = f"{auth} is what you sent me."
            else:
                answer = server.answer(body)
            text, top = answer if isinstance(answer, tuple) else (answer, None)
            if body.get("logit_bias"):  # constrained decoding: only the allowed tokens, max_tokens of them
                allowed = [fake_text(int(i)) for i, bias in body["logit_bias"].items() if bias >= 100]
                said = [w for w in re.findall(r"\w+", text) if w in allowed]  # the option it meant to give
                text = (said[0] if said else allowed[0]) if allowed else text
            self._complete(body, text, wants_logprobs, top)

    def _complete_text(self, body: dict, echo: str | None) -> None:
        """POST /v1/completions: the canned text (see answer_for), after `echo` when given."""
        server = self.owner
        text, finish = answer_for(body, server.words)
        if echo is not None:
            text = f"{echo} {text}"
        prompt_tokens, completion_tokens = 5, len(text.split())
        with server._lock:
            server.prompt_tokens_sent += prompt_tokens
            server.completion_tokens_sent += completion_tokens
        self._send_json(200, {
            "id": "cmpl-1", "object": "text_completion", "created": 0, "model": body.get("model"),
            "choices": [{"index": 0, "text": " " + text, "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens},
        })  # fmt: skip

    def _complete(self, body: dict, text: str, wants_logprobs: bool, top: dict[str, float] | None = None) -> None:
        """`top`: the answer token's top_logprobs ({token: logprob}) when the answer function gave them."""
        server = self.owner
        chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
        prompt_tokens, completion_tokens = chars // 4 + 1, max(1, len(text.split()))
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        if wants_logprobs and server.logprobs and top is not None:
            first = text.split()[0] if text.split() else text
            choice["logprobs"] = {"content": [{
                "token": first, "logprob": top.get(first, -0.05), "bytes": None,
                "top_logprobs": [{"token": t, "logprob": lp, "bytes": None} for t, lp in top.items()],
            }]}  # fmt: skip
        elif wants_logprobs and server.logprobs:
            other = {"A": "B", "B": "A", "YES": "NO", "NO": "YES"}.get(text.strip(), "B")
            first = text.split()[0] if text.split() else text
            choice["logprobs"] = {
                "content": [
                    {
                        "token": first, "logprob": -0.05, "bytes": None,
                        "top_logprobs": [
                            {"token": first, "logprob": -0.05, "bytes": None},
                            {"token": " " + other, "logprob": -3.0, "bytes": None},
                        ],
                    }
                ]
            }
        payload = {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": server.model,
            "choices": [choice],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens},
        }
        with server._lock:
            server.prompt_tokens_sent += prompt_tokens
            server.completion_tokens_sent += completion_tokens
        self._send_json(200, payload)


# -- helpers shared by the judge tests -------------------------------------------------------

FAST = dict(backoff_s=0.01, backoff_max_s=0.05, endpoint_cooldown_s=0.2, retry_time_s=20.0)
"""OpenAIJudge keyword arguments that keep retry waits short in tests."""


def judge_config(*base_urls: str, **overrides: Any):
    """A JudgeConfig for the openai backend with test-sized timeouts."""
    from hrlaif.config import JudgeConfig

    values: dict[str, Any] = dict(
        backend="openai", model="fake-judge", base_urls=list(base_urls), timeout_s=0.5, max_retries=4,
        concurrency=8, api_key_env="HRLAIF_TEST_JUDGE_KEY",
    )
    values.update(overrides)
    return JudgeConfig(**values)


def preference_questions(n: int, tag: str = "q"):
    """Preference questions whose answer under `longer_wins` is known: A when i % 3 == 0."""
    from hrlaif.judge.base import Question

    questions = []
    for i in range(n):
        long, short = f"A detailed answer number {i} with several words.", f"Short {i}."
        a, b = (long, short) if i % 3 == 0 else (short, long)
        questions.append(Question(task="preference", fields={"prompt": f"{tag}{i}: which is better?", "response_a": a, "response_b": b}))
    return questions


def expected_choice(question) -> str:
    return "A" if len(question.fields["response_a"]) >= len(question.fields["response_b"]) else "B"
