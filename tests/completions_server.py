"""A small OpenAI-compatible completions server on 127.0.0.1 with fault injection, for the tests
of the openai generation backend (hrlaif.serving).

POST /v1/completions answers "<seed>|<last words of the prompt>" cut to `max_tokens` words:
when the text had more words than that, finish_reason is "length", else "stop". GET /v1/models
lists `model`. Faults are taken in order from `script` first, then `fault` for every request after:
"503", "429", "401", "400", "hang" (no answer for `hang_s`, then the connection closes), "garbage"
(HTTP 200 whose body is not JSON), "echo" (a completion whose text starts with the Authorization
header) and "echo_<status>" (that status, the Authorization header quoted in the error message as
tests/support/fake_openai.py's chat faults of that name do). A "429" carries `Retry-After: <retry_after>` when
`retry_after` is set. Every completion request is logged with its body, when it arrived
(time.monotonic()) and how many requests were in flight then.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from support.fake_openai import echo_message


@dataclass
class CompletionsServer:
    model: str = "served-policy"
    script: list[str] = field(default_factory=list)
    fault: str = "ok"  # once the script is used up
    words: int = 6  # words of the canned answer before max_tokens applies
    hang_s: float = 3.0
    delay_s: float = 0.05  # per answer, so concurrent requests overlap
    retry_after: int | None = None  # seconds a 429 asks for (header Retry-After); None: no header
    log: list[dict] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.owner = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> CompletionsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def next_fault(self) -> str:
        with self._lock:
            return self.script.pop(0) if self.script else self.fault


def answer_for(body: dict, words: int) -> tuple[str, str]:
    """The canned completion of a request and its finish_reason."""
    tail = body["prompt"].split()[-3:]
    text = [f"{body.get('seed')}|", *tail, *(f"w{i}" for i in range(words))][:words]
    return " ".join(text[: body["max_tokens"]]), "length" if len(text) > body["max_tokens"] or words > body["max_tokens"] else "stop"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send_raw(status, json.dumps(payload).encode(), headers)

    def _send_raw(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        server: CompletionsServer = self.server.owner  # type: ignore[attr-defined]
        if self.path.rstrip("/").endswith("/models"):
            self._send(200, {"object": "list", "data": [{"id": server.model, "object": "model"}]})
        else:
            self._send(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        server: CompletionsServer = self.server.owner  # type: ignore[attr-defined]
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if not self.path.rstrip("/").endswith("/completions") or self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, {"error": {"message": "only /v1/completions here"}})
            return
        fault = server.next_fault()
        with server._lock:
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
            server.log.append({"body": body, "fault": fault, "auth": self.headers.get("Authorization"), "in_flight": server.in_flight,
                               "time": time.monotonic()})
        try:
            if fault == "hang":
                time.sleep(server.hang_s)
                return
            if fault == "429" and server.retry_after is not None:
                self._send(429, {"error": {"message": "injected 429"}}, {"Retry-After": str(server.retry_after)})
                return
            if fault in ("503", "429", "401", "400"):
                self._send(int(fault), {"error": {"message": f"injected {fault}"}})
                return
            if fault.startswith("echo_"):
                self._send(int(fault[5:]), {"error": {"message": echo_message(self.headers.get("Authorization"))}})
                return
            if fault == "garbage":
                self._send_raw(200, b"{this is not json")
                return
            time.sleep(server.delay_s)
            text, finish = answer_for(body, server.words)
            if fault == "echo":
                text = f"{self.headers.get('Authorization')} {text}"
            self._send(200, {
                "id": "cmpl-1", "object": "text_completion", "created": 0, "model": body.get("model"),
                "choices": [{"index": 0, "text": " " + text, "finish_reason": finish, "logprobs": None}],
                "usage": {"prompt_tokens": 5, "completion_tokens": len(text.split()), "total_tokens": 5 + len(text.split())},
            })
        finally:
            with server._lock:
                server.in_flight -= 1
