"""A small OpenAI-compatible chat server on 127.0.0.1 with fault injection, for judge tests.

It answers POST /v1/chat/completions with a canned completion (the `answer` function of the
request body decides the text), a usage block and, when asked, logprobs; GET /v1/models lists
the model. Faults are drawn per request at set rates, or taken in order from `script` first:

- "429": HTTP 429 with `Retry-After: <retry_after>` (integer seconds unless `retry_after_ms`)
- "500", "503": server errors
- "hang": no answer for `hang_s` (longer than the client timeout), then the connection closes
- "garbage": a well-formed completion whose text is not an option
- "malformed": HTTP 200 whose body is not JSON; "html": HTTP 200 with an HTML page
- "drop": the connection is closed without any response
- "auth_echo_400": HTTP 400 whose error message quotes the Authorization header it received
- "echo_text": a well-formed completion whose text starts with the Authorization header
- "echo_<status>" (e.g. "echo_401", "echo_500"): that status, with the Authorization header at
  character ECHO_AT of the error message, so a message cut to 200 characters ends inside the key
- "401": authentication refused

Every request is logged (fault, Authorization header, the rendered prompt, time), and the usage
of every completion actually sent is summed, so tests can check the client's accounting.
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
    """An error message quoting the Authorization header at character ECHO_AT (shared with
    tests/completions_server.py)."""
    return "request rejected: ".ljust(ECHO_AT, ".") + f"{auth} (as received)"


FENCED = re.compile(r"<<<data (\w+)>>>\n(.*?)\n<<<end \1>>>", re.DOTALL)


def fields_of(body: dict) -> dict[str, str]:
    """The fenced fields of the judge prompt, read back the way a model would see them."""
    text = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
    return {name: value for name, value in FENCED.findall(text)}


def prompt_of(body: dict) -> str:
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
    n: int
    path: str
    fault: str
    auth: str | None
    prompt: str
    logprobs: bool
    reask: bool
    time: float
    body: dict = field(default_factory=dict)


@dataclass
class FakeJudgeServer:
    answer: Callable[[dict], str | tuple[str, dict[str, float]]] = longer_wins  # text, or (text, top logprobs)
    faults: dict[str, float] = field(default_factory=dict)
    script: list[str] = field(default_factory=list)
    retry_after: int = 1
    retry_after_ms: int | None = None
    hang_s: float = 3.0
    delay_s: float = 0.0
    logprobs: bool = True
    reject_logprobs: bool = False
    model: str = "fake-judge"
    seed: int = 0
    tokenize: bool = False  # serve llama-cpp-python's /extras/tokenize (one token per capital letter, with or without a space)
    reject_params: tuple[str, ...] = ()  # request keys answered with a 400, as reasoning models do for max_tokens / temperature

    def __post_init__(self) -> None:
        self.log: list[Request] = []
        self.prompt_tokens_sent = 0
        self.completion_tokens_sent = 0
        self._lock = threading.Lock()
        self._rng = random.Random(self.seed)
        self._script = list(self.script)
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeJudgeServer:
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

    def __enter__(self) -> FakeJudgeServer:
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
        with self._lock:
            return [r for r in self.log if r.path.endswith("/chat/completions")]

    @property
    def count(self) -> int:
        return len(self.completions)

    def faults_seen(self) -> Counter:
        return Counter(r.fault for r in self.completions)

    def auth_headers(self) -> set[str | None]:
        return {r.auth for r in self.completions}

    def answered(self) -> list[str]:
        """Prompts of the requests that got a completion (ok or garbage) back."""
        return [r.prompt for r in self.completions if r.fault in ("ok", "garbage", "echo_text")]

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
        return "ok"


def fake_tokens(text: str) -> list[int]:
    """The fake server's tokenizer: a capital letter (optionally after a space) is one token;
    anything else is one token per character, plus 1000."""
    if re.fullmatch(r" ?[A-Z]", text):
        return [ord(text[-1]) + (100 if text.startswith(" ") else 0)]
    return [1000 + ord(c) for c in text]


def fake_text(token: int) -> str:
    return chr(token - 100) if 165 <= token <= 190 else chr(token) if 65 <= token <= 90 else chr(token - 1000)


def dead_url() -> str:
    """A base URL where nothing listens: connections are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


class _Handler(BaseHTTPRequestHandler):
    owner: FakeJudgeServer
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
        if self.path.rstrip("/") == "/extras/tokenize" and server.tokenize:
            self._send_json(200, {"tokens": fake_tokens(str(body.get("input", "")))})
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send_json(404, {"error": {"message": "not found"}})
            return
        fault = server._draw()
        wants_logprobs = bool(body.get("logprobs"))
        with server._lock:
            server.log.append(
                Request(
                    n=len(server.log), path=self.path, fault=fault, auth=self.headers.get("Authorization"),
                    prompt=prompt_of(body), logprobs=wants_logprobs, reask=len(body.get("messages", [])) > 2,
                    time=time.monotonic(), body=body,
                )
            )
        if fault == "429":
            headers = {"Retry-After": str(server.retry_after)}
            if server.retry_after_ms is not None:
                headers["retry-after-ms"] = str(server.retry_after_ms)
            self._send_json(429, {"error": {"message": "rate limited", "type": "rate_limit"}}, headers)
        elif fault in ("500", "503"):
            self._send_json(int(fault), {"error": {"message": "server error"}})
        elif fault == "401":
            self._send_json(401, {"error": {"message": "invalid api key"}})
        elif fault == "auth_echo_400":
            self._send_json(400, {"error": {"message": f"bad request from {self.headers.get('Authorization')}"}})
        elif fault.startswith("echo_") and fault[5:].isdigit():
            self._send_json(int(fault[5:]), {"error": {"message": echo_message(self.headers.get("Authorization"))}})
        elif fault == "hang":
            server._stopping.wait(server.hang_s)
            self.close_connection = True
        elif fault == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        elif fault == "malformed":
            self._send_json(200, b"{this is not json")
        elif fault == "html":
            page = b"<html><body>502 Bad Gateway (but sent as 200)</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
        elif wants_logprobs and server.reject_logprobs:
            self._send_json(400, {"error": {"message": "logprobs are not supported"}})
        elif any(key in body for key in server.reject_params):
            bad = next(key for key in server.reject_params if key in body)
            self._send_json(400, {"error": {"message": f"Unsupported parameter: '{bad}' is not supported with this model."}})
        else:
            if server.delay_s:
                time.sleep(server.delay_s)
            if fault == "garbage":
                answer = "I think both responses have merit."
            elif fault == "echo_text":
                answer = f"{self.headers.get('Authorization')} is what you sent me."
            else:
                answer = server.answer(body)
            text, top = answer if isinstance(answer, tuple) else (answer, None)
            if body.get("logit_bias"):  # constrained decoding: only the allowed tokens, max_tokens of them
                allowed = [fake_text(int(i)) for i, bias in body["logit_bias"].items() if bias >= 100]
                said = [w for w in re.findall(r"\w+", text) if w in allowed]  # the option it meant to give
                text = (said[0] if said else allowed[0]) if allowed else text
            self._complete(body, text, wants_logprobs, top)

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
