"""Verdicts constrained to the option tokens (`judge.constrain`): the `logit_bias` that allows
only them, so a verdict takes one request of one token (hrlaif.judge.openai_backend).

The token ids come from `judge.option_token_ids` when listed there, else from the server's tokenize
route (llama-cpp-python, llama.cpp, vLLM), probed once per endpoint and text. An option is used only
when it is known to be one token (bare, and with a leading space when that is one token too);
otherwise, or once a server rejects logit_bias, the judge asks unconstrained and parses text.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import openai

from hrlaif.config import JudgeConfig

log = logging.getLogger(__name__)


@dataclass
class _Probe:
    """What is known of one endpoint."""

    tokenize: str | None = None  # the tokenize route that works here; "" none does; None not probed yet
    token_ids: dict[str, list[int] | None] = field(default_factory=dict)  # text -> its token ids (None: unknown)
    constrain: bool = True  # False once the server rejected logit_bias


class OptionBias:
    """The logit_bias of a judge's requests, per endpoint; what was probed is kept across `ask`s."""

    def __init__(self, config: JudgeConfig) -> None:
        self.config = config
        self._probes: dict[str, _Probe] = {}

    def _probe(self, url: str) -> _Probe:
        return self._probes.setdefault(url, _Probe())

    def accepted(self, url: str) -> bool:
        """False once the server at `url` rejected logit_bias."""
        return self._probe(url).constrain

    def rejected(self, url: str) -> None:
        """The server at `url` answered 400 to a constrained request: ask it unconstrained from now on."""
        self._probe(url).constrain = False
        log.info("judge endpoint %s rejects logit_bias; asking it unconstrained", url)

    async def bias(self, url: str, client: Any, options: tuple[str, ...], locks: dict[str, asyncio.Lock]) -> dict[str, int] | None:
        """logit_bias that allows only the option tokens, or None when they are not known to be one
        token each (then the reply is parsed as text). `locks` (one per endpoint, made per event
        loop) keep concurrent requests from probing the same text twice."""
        if not self.config.constrain or self.config.reasoning or not self.accepted(url):
            return None
        ids: set[int] = set()
        for option in options:
            if option in self.config.option_token_ids:
                ids.update(self.config.option_token_ids[option])
                continue
            bare = await self._tokens(url, client, option, locks)
            if bare is None or len(bare) != 1:
                return None
            ids.update(bare)
            spaced = await self._tokens(url, client, " " + option, locks)
            if spaced is not None and len(spaced) == 1:
                ids.update(spaced)
        return {str(i): 100 for i in sorted(ids)} or None

    async def _tokens(self, url: str, client: Any, text: str, locks: dict[str, asyncio.Lock]) -> list[int] | None:
        probe = self._probe(url)
        if text in probe.token_ids:
            return probe.token_ids[text]
        async with locks.setdefault(url, asyncio.Lock()):
            if text not in probe.token_ids:
                probe.token_ids[text] = await self._tokenize(url, probe, text, client)
        return probe.token_ids[text]

    async def _tokenize(self, url: str, probe: _Probe, text: str, client: Any) -> list[int] | None:
        root = url[: -len("/v1")] if url.endswith("/v1") else url
        routes = {
            "llama-cpp-python": ("/extras/tokenize", lambda t: {"input": t}),
            "llama.cpp": ("/tokenize", lambda t: {"content": t, "add_special": False}),
            "vllm": ("/tokenize", lambda t: {"model": self.config.model, "prompt": t, "add_special_tokens": False}),
        }
        if probe.tokenize == "":
            return None
        for name in [probe.tokenize] if probe.tokenize else list(routes):
            path, body = routes[name]
            try:
                tokens = (await client.post(root + path, body=body(text), cast_to=object)).get("tokens")
                empty = (await client.post(root + path, body=body(""), cast_to=object)).get("tokens") or []
            except (openai.OpenAIError, ValueError, AttributeError, TypeError):
                continue
            if isinstance(tokens, list) and all(isinstance(t, int) for t in tokens):
                probe.tokenize = name
                return tokens[len(empty):] if tokens[: len(empty)] == empty else tokens  # without a BOS the route adds
        if probe.tokenize is None:
            probe.tokenize = ""
            log.info("judge endpoint %s has no tokenize route; verdicts are parsed from unconstrained text", url)
        return None
