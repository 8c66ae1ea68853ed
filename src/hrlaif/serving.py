"""Generation on a serving engine: a fixed policy's responses from an OpenAI-compatible server or
from vLLM in-process, instead of transformers' `generate`.

Sampling, red teaming and evaluation answer prompts with a policy that does not change while they
run, which is what inference engines are built for (`policy.backend`). Either way each chat is
rendered with the policy's own chat template by our tokenizer (`chat_prompt`, as the transformers
path does) and sent as a plain completion prompt, so every backend sees the same text; a
response is `truncated` when the engine stopped for length (finish_reason "length"), as the
transformers path marks one without an end token. Every request carries a seed derived from the
pass seed and the prompt's position, so a re-run asks the same questions with the same seeds
(whether the engine then returns the same text is up to the engine: vLLM and llama.cpp do).

The openai backend asks through the judge's endpoint pool (hrlaif.endpoints): several endpoints
round robin, `concurrency` requests in flight, retries with backoff and jitter on 429/5xx/408/409,
timeouts, broken connections and malformed bodies, a `Retry-After` honoured (the wait, and the
endpoint set aside that long), an endpoint failing several times in a row skipped for a cooldown,
endpoints answering 401/403/404 dropped. Unlike a judge verdict a sample cannot be left out (the
samples file has K per prompt), so a prompt that still fails after its retries stops the stage with
an error naming it; the API key is never written anywhere: completions and error messages are
scrubbed of it (hrlaif.redact) like the judge's.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import openai
import torch
from tqdm.auto import tqdm

from hrlaif.config import GenerationConfig, PolicyServerConfig
from hrlaif.endpoints import EndpointPool, Failure, pool_setting, run_sync
from hrlaif.errors import HrlaifError
from hrlaif.models import Generated, resolve_model


def request_seed(seed: int, index: int) -> int:
    """The seed of prompt `index` in a pass drawn with `seed`: distinct per prompt and pass,
    equal on a re-run, within the 31 bits every engine accepts."""
    return (seed * 1_000_003 + index) % 2**31



class OpenAIPolicy:
    """Completions from OpenAI-compatible servers serving the policy (vLLM, SGLang, llama.cpp,
    `trl vllm-serve`, ...)."""

    def __init__(self, config: PolicyServerConfig, *, backoff_s: float = 0.5, backoff_max_s: float = 30.0,
                 endpoint_failures: int = 3, endpoint_cooldown_s: float = 5.0) -> None:
        if not config.base_urls:
            raise HrlaifError("policy.backend=openai needs policy.server.base_urls, e.g. policy.server.base_urls=[http://127.0.0.1:8000/v1]")
        self.config = config
        self.pool = EndpointPool(
            config, section="policy.server", unusable="policy.server.base_urls: no endpoint is usable ({reasons})",
            backoff_s=backoff_s, backoff_max_s=backoff_max_s, endpoint_failures=endpoint_failures, endpoint_cooldown_s=endpoint_cooldown_s,
        )
        self.model = config.model  # the served name; None until asked for (the server's first model)
        self.requests = 0
        self.retries = 0

    backoff_s = pool_setting("backoff_s")
    backoff_max_s = pool_setting("backoff_max_s")

    def __repr__(self) -> str:
        return f"OpenAIPolicy(model={self.model!r}, base_urls={self.pool.urls!r})"

    def generate(self, prompts: list[str], generation: GenerationConfig, *, seed: int, desc: str = "generating") -> list[Generated]:
        """One completion per rendered prompt, in order."""
        if not prompts:
            return []
        return run_sync(lambda: self._run_all(prompts, generation, seed, desc))

    async def _run_all(self, prompts: list[str], generation: GenerationConfig, seed: int, desc: str) -> list[Generated]:
        semaphore = asyncio.Semaphore(self.config.concurrency)
        async with self.pool.clients() as clients:
            bar = tqdm(total=len(prompts), desc=desc, unit="response", disable=len(prompts) < 2 or None)  # None: off when not a terminal
            try:
                if self.model is None:
                    self.model = await self._served_model(clients)
                tasks = [asyncio.ensure_future(self._one(clients, semaphore, text, generation, request_seed(seed, i), i, bar))
                         for i, text in enumerate(prompts)]
                try:
                    return list(await asyncio.gather(*tasks))
                except BaseException:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
                    raise
            finally:
                bar.close()

    async def _served_model(self, clients: dict) -> str:
        """policy.server.model left empty: the first model the first answering endpoint lists."""
        for endpoint in self.pool.endpoints:
            try:
                page = await clients[endpoint.url].models.list()
                if page.data:
                    return page.data[0].id
            except (openai.OpenAIError, ValueError, AttributeError):
                continue
        raise HrlaifError("policy.server.model is not set and no endpoint of policy.server.base_urls lists a model: set policy.server.model")

    async def _one(self, clients: dict, semaphore: asyncio.Semaphore, prompt: str, generation: GenerationConfig,
                   seed: int, index: int, bar) -> Generated:
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            async with semaphore:
                endpoint, wait = self.pool.pick(loop.time())  # once a slot is free: the choice sees what requests before it found
                if wait <= 0:
                    self.requests += 1
                    outcome = await self._request(clients[endpoint.url], prompt, generation, seed)
            if wait > 0:  # every usable endpoint is cooling down: wait for the first back, without a slot
                await asyncio.sleep(wait)
                continue
            if isinstance(outcome, Generated):
                self.pool.succeeded(endpoint)
                bar.update(1)
                return outcome
            if self.pool.refused(endpoint, outcome):  # 401/403/404: dropped for the run, ask another
                continue
            self.pool.failed(endpoint, outcome, loop.time())
            failures += 1
            if not outcome.retryable or failures > self.config.max_retries:
                label = f"{outcome.label} {outcome.message}" if outcome.message else outcome.label
                tries = f" after {failures} attempts" if outcome.retryable else ""
                raise HrlaifError(self.pool.scrub(f"policy.server ({endpoint.url}): prompt {index} of this batch failed: {label}{tries}"))
            self.retries += 1
            await asyncio.sleep(self.pool.delay(outcome, failures))

    async def _request(self, client: Any, prompt: str, generation: GenerationConfig, seed: int) -> Generated | Failure:
        """One completion, or what went wrong; openai exceptions (they carry the request and its
        headers) never leave."""
        kwargs: dict[str, Any] = dict(model=self.model, prompt=prompt, max_tokens=generation.max_new_tokens,
                                      temperature=generation.temperature, seed=seed, n=1)
        if generation.temperature > 0:
            kwargs["top_p"] = generation.top_p
        if self.config.extra_body:
            kwargs["extra_body"] = dict(self.config.extra_body)
        try:
            completion = await client.completions.create(**kwargs)
        except (openai.OpenAIError, ValueError) as exc:  # ValueError: a body the client could not read
            return self.pool.failure(exc)
        try:
            choice = completion.choices[0]
            # a server that echoes the request (its Authorization header) would put the key in samples.jsonl
            return Generated(self.pool.scrub(choice.text or "").strip(), choice.finish_reason == "length")
        except (AttributeError, IndexError, TypeError) as exc:
            return Failure(f"malformed response ({type(exc).__name__})")


def release_engines() -> None:
    """Let go of an in-process vLLM engine (training stages call this first). Best effort: vLLM
    may keep some GPU memory until the process ends, so with policy.backend=vllm run sample,
    redteam and evaluate as their own commands if training runs short of memory."""
    VllmPolicy.release()


class VllmPolicy:
    """vLLM's offline engine (`LLM.generate`) in this process, for machines with a GPU."""

    _engine: tuple[tuple, Any] | None = None  # one engine alive at a time: each claims GPU memory

    def __init__(self, path: str, config: PolicyServerConfig, *, seed: int = 0) -> None:
        try:
            import vllm  # noqa: F401
        except ImportError as exc:
            raise HrlaifError(
                f"policy.backend=vllm needs the vllm package, which cannot be imported here ({exc}); "
                "install it on a GPU machine (pip install vllm) or set policy.backend to transformers or openai"
            ) from None
        self.path = resolve_model(path)
        kwargs = {"gpu_memory_utilization": 0.4, "seed": seed, **config.vllm}
        key = (self.path, tuple(sorted((k, repr(v)) for k, v in kwargs.items())))
        if VllmPolicy._engine is None or VllmPolicy._engine[0] != key:
            VllmPolicy.release()
            from vllm import LLM

            VllmPolicy._engine = (key, LLM(model=self.path, **kwargs))
        self.llm = VllmPolicy._engine[1]

    @staticmethod
    def release() -> None:
        """Drop the engine (and its GPU memory) before another model loads."""
        if VllmPolicy._engine is not None:
            VllmPolicy._engine = None
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    def generate(self, prompts: list[str], generation: GenerationConfig, *, seed: int, desc: str = "generating") -> list[Generated]:
        from vllm import SamplingParams

        if not prompts:
            return []
        params = [
            SamplingParams(n=1, max_tokens=generation.max_new_tokens, temperature=generation.temperature,
                           top_p=generation.top_p if generation.temperature > 0 else 1.0, top_k=-1, seed=request_seed(seed, i))
            for i in range(len(prompts))
        ]
        # Token ids, not text: the engine would add its special tokens to a text prompt; the
        # rendered template already holds the ones the model wants (as the transformers path).
        tokenizer = self.llm.get_tokenizer()
        inputs = [{"prompt_token_ids": tokenizer.encode(text, add_special_tokens=False)} for text in prompts]
        outputs = self.llm.generate(inputs, params, use_tqdm=len(prompts) > 1)
        results = []
        for output in outputs:
            first = output.outputs[0]
            results.append(Generated(first.text.strip(), first.finish_reason == "length"))
        return results
