"""The hybrid reward behind HTTP, in the shape of OpenRLHF's remote reward model.

OpenRLHF (`--remote_rm_url http://HOST:PORT/get_reward`) posts
`{"query": [...], "prompts": [...], "labels": [...]}`: each query is the rendered prompt followed
by the policy's response, each prompt the rendered prompt alone, each label the dataset's
`--label_key` column. It reads `rewards` from the reply (and `scores`, `extra_logs` when present).

The rules need each row's category and key, so a label is an object (or that object as a JSON
string) `{"category": ..., "reference": ..., "choices": [...]}`: the columns of hrlaif's prompt
files. The response the rules read is the query with its prompt cut off. The reward is the rule
reward (`hrlaif.reward.hybrid`; 0 where no rule applies) plus, when a reward model is loaded, the
RM's score of the whole query. One request is scored at a time: the verifier's worker process and
the RM are shared.
"""

from __future__ import annotations

import json
import socket
import threading
from typing import Any

import torch
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hrlaif.config import HybridRewardConfig
from hrlaif.errors import HrlaifError
from hrlaif.records import CATEGORIES
from hrlaif.reward.hybrid import hybrid_rewards

DEFAULT_PORT = 5000  # OpenRLHF's serve_rm default, so its example URLs work unchanged


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


def parse_label(value: Any, row: int) -> RowLabel:
    """One label: an object, or a JSON string of one (OpenRLHF datasets often keep it as text)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise BadRequest(f"labels[{row}]: not a JSON object: {value[:80]!r}") from None
    if not isinstance(value, dict):
        raise BadRequest(f"labels[{row}]: needs an object with 'category' (and 'reference', 'choices' for keyed prompts), "
                         f"got {type(value).__name__}; with OpenRLHF, pass --label_key naming such a column")
    try:
        label = RowLabel.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise BadRequest(f"labels[{row}].{'.'.join(str(part) for part in first['loc'])}: {first['msg']}") from None
    if label.category not in CATEGORIES:
        raise BadRequest(f"labels[{row}]: unknown category {label.category!r} (known: {', '.join(CATEGORIES)})")
    return label


def split_response(query: str, prompt: str, row: int) -> str:
    """The response part of a query: what follows its prompt."""
    if not query.startswith(prompt):
        raise BadRequest(f"query[{row}] does not start with prompts[{row}]; the response is what follows the prompt")
    return query[len(prompt):].strip()


class RewardScorer:
    """Rule reward plus, optionally, an RM's score; `score` takes a parsed request."""

    def __init__(self, config: HybridRewardConfig, reward_model=None, tokenizer=None, max_length: int = 1024):
        self.config = config
        self.reward_model = reward_model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self._lock = threading.Lock()

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

    def score(self, request: RewardRequest) -> dict:
        n = len(request.query)
        for name in ("prompts", "labels"):
            if len(getattr(request, name)) != n:
                raise BadRequest(f"{len(getattr(request, name))} {name} for {n} queries; send one per query")
        labels = [parse_label(value, i) for i, value in enumerate(request.labels)]
        responses = [split_response(q, p, i) for i, (q, p) in enumerate(zip(request.query, request.prompts))]
        with self._lock:
            try:
                rules = hybrid_rewards(
                    request.prompts, responses, categories=[label.category for label in labels],
                    references=[label.reference for label in labels], choices=[label.choices for label in labels], config=self.config,
                )
            except HrlaifError as exc:
                raise BadRequest(str(exc)) from None
            rm = self.rm_scores(request.query) if self.reward_model is not None and n else None
        rule_part = [0.0 if r is None else r for r in rules]
        rewards = [r + s for r, s in zip(rule_part, rm)] if rm is not None else rule_part
        extra_logs = {"hybrid_rule": rule_part, "hybrid_applies": [float(r is not None) for r in rules]}
        if rm is not None:
            extra_logs["rm_score"] = rm
        # scores: what OpenRLHF's dynamic filtering reads; the reward itself, as its own examples do.
        return {"rewards": rewards, "scores": rewards, "extra_logs": extra_logs}


def create_app(scorer: RewardScorer) -> FastAPI:
    app = FastAPI(title="hrlaif reward server", docs_url=None, redoc_url=None)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"] if part != "body") or "body"
        return JSONResponse({"error": f"{where}: {first['msg']}"}, status_code=422)

    @app.exception_handler(BadRequest)
    async def bad(request: Request, exc: BadRequest) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=422)

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "reward_model": scorer.reward_model is not None}

    @app.post("/get_reward")
    def get_reward(request: RewardRequest) -> dict:  # sync: FastAPI runs it in a thread, the loop stays free
        return scorer.score(request)

    return app


def load_scorer(config: HybridRewardConfig, reward_model: str | None, max_length: int) -> RewardScorer:
    """The scorer, with the RM (and its tokenizer) loaded when a path is given."""
    if reward_model is None:
        return RewardScorer(config)
    from hrlaif.models import load_reward_model, load_tokenizer

    model = load_reward_model(reward_model)
    tokenizer = load_tokenizer(reward_model, padding_side="right")
    model.config.pad_token_id = tokenizer.pad_token_id  # placed on the accelerator by load_reward_model
    return RewardScorer(config, model.eval(), tokenizer, max_length)


def listen(host: str, port: int) -> socket.socket:
    """The server's socket, bound before any model loads: a taken port or a bad address fails at
    once with our message (uvicorn alone would report it after loading, with exit 1)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise HrlaifError(f"reward-server: cannot listen on {host}:{port} ({exc.strerror or exc}): check --host") from None
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise HrlaifError(f"reward-server: cannot listen on {host}:{port} ({exc.strerror or exc}): another server may hold it; choose another --port") from None
    return sock


def serve(scorer: RewardScorer, sock: socket.socket) -> None:
    """Run the server with uvicorn on `sock` until interrupted (access log off: it would only say 200 per batch)."""
    import uvicorn

    uvicorn.Server(uvicorn.Config(create_app(scorer), access_log=False, log_level="warning")).run(sockets=[sock])
