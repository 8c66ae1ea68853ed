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

The openai backend follows the judge's request policy (hrlaif.judge.openai_backend): several
endpoints round robin, `concurrency` requests in flight, retries with backoff and jitter on
429/5xx/408/409, timeouts and broken connections, endpoints answering 401/403/404 dropped. Unlike a
judge verdict a sample cannot be left out (the samples file has K per prompt), so a prompt that
still fails after its retries stops the stage with an error naming it; the API key is never
written anywhere: completions and error messages are scrubbed of it (hrlaif.redact) like the judge's.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import random
from dataclasses import dataclass
from typing import Any

from tqdm.auto import tqdm

from hrlaif.config import GenerationConfig, PolicyServerConfig
from hrlaif.errors import HrlaifError
from hrlaif.models import Generated
from hrlaif.redact import scrub


def request_seed(seed: int, index: int) -> int:
    """The seed of prompt `index` in a pass drawn with `seed`: distinct per prompt and pass,
    equal on a re-run, within the 31 bits every engine accepts."""
    return (seed * 1_000_003 + index) % 2**31



@dataclass
class _Endpoint:
    url: str
    dropped: str = ""


class _Failed(Exception):
    """A request that failed; `retryable` says whether asking again may help."""

    def __init__(self, label: str, retryable: bool, drop_endpoint: bool = False) -> None:
        super().__init__(label)
        self.label, self.retryable, self.drop_endpoint = label, retryable, drop_endpoint


class OpenAIPolicy:
    """Completions from OpenAI-compatible servers serving the policy (vLLM, SGLang, llama.cpp,
    `trl vllm-serve`, ...)."""

    def __init__(self, config: PolicyServerConfig, *, backoff_s: float = 0.5, backoff_max_s: float = 30.0) -> None:
        if not config.base_urls:
            raise HrlaifError("policy.backend=openai needs policy.server.base_urls, e.g. policy.server.base_urls=[http://127.0.0.1:8000/v1]")
        self.config = config
        self.backoff_s, self.backoff_max_s = backoff_s, backoff_max_s
        self._endpoints = [_Endpoint(url.rstrip("/")) for url in dict.fromkeys(config.base_urls)]
        self._next = 0
        self._rng = random.Random()
        from hrlaif.judge.openai_backend import read_api_key

        self.__key = read_api_key(config, "policy.server")
        self.model = config.model  # the served name; None until asked for (the server's first model)
        self.requests = 0
        self.retries = 0

    def __repr__(self) -> str:
        return f"OpenAIPolicy(model={self.model!r}, base_urls={[e.url for e in self._endpoints]!r})"

    def _scrub(self, text: str) -> str:
        return scrub(text, self.__key)

    def generate(self, prompts: list[str], generation: GenerationConfig, *, seed: int, desc: str = "generating") -> list[Generated]:
        """One completion per rendered prompt, in order."""
        if not prompts:
            return []

        def work():
            return self._run_all(prompts, generation, seed, desc)

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(work())
        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # called inside a running loop
            return pool.submit(asyncio.run, work()).result()

    async def _run_all(self, prompts: list[str], generation: GenerationConfig, seed: int, desc: str) -> list[Generated]:
        from openai import AsyncOpenAI

        clients = {e.url: AsyncOpenAI(api_key=self.__key, base_url=e.url, max_retries=0, timeout=self.config.timeout_s)
                   for e in self._endpoints}
        semaphore = asyncio.Semaphore(self.config.concurrency)
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
            for client in clients.values():
                try:
                    await client.close()
                except Exception:  # closing must not hide the result
                    pass

    async def _served_model(self, clients: dict) -> str:
        """policy.server.model left empty: the first model the first answering endpoint lists."""
        import openai

        for endpoint in self._endpoints:
            try:
                page = await clients[endpoint.url].models.list()
                if page.data:
                    return page.data[0].id
            except (openai.OpenAIError, ValueError, AttributeError):
                continue
        raise HrlaifError("policy.server.model is not set and no endpoint of policy.server.base_urls lists a model: set policy.server.model")

    def _pick(self) -> _Endpoint:
        live = [e for e in self._endpoints if not e.dropped]
        if not live:
            reasons = "; ".join(f"{e.url}: {e.dropped}" for e in self._endpoints)
            raise HrlaifError(self._scrub(f"policy.server.base_urls: no endpoint is usable ({reasons})"))
        for step in range(len(self._endpoints)):
            endpoint = self._endpoints[(self._next + step) % len(self._endpoints)]
            if not endpoint.dropped:
                self._next = (self._next + step + 1) % len(self._endpoints)
                return endpoint
        raise AssertionError("unreachable")

    async def _one(self, clients: dict, semaphore: asyncio.Semaphore, prompt: str, generation: GenerationConfig,
                   seed: int, index: int, bar) -> Generated:
        failures = 0
        while True:
            async with semaphore:
                endpoint = self._pick()  # once a slot is free: the choice sees what requests before it found
                self.requests += 1
                try:
                    result = await self._request(clients[endpoint.url], prompt, generation, seed)
                    bar.update(1)
                    return result
                except _Failed as failure:
                    last = failure
            if last.drop_endpoint:
                endpoint.dropped = last.label
                continue
            failures += 1
            if not last.retryable or failures > self.config.max_retries:
                tries = f" after {failures} attempts" if last.retryable else ""
                raise HrlaifError(self._scrub(f"policy.server ({endpoint.url}): prompt {index} of this batch failed: {last.label}{tries}"))
            self.retries += 1
            ceiling = min(self.backoff_max_s, self.backoff_s * 2 ** (failures - 1))
            await asyncio.sleep(ceiling * (0.5 + 0.5 * self._rng.random()))

    async def _request(self, client: Any, prompt: str, generation: GenerationConfig, seed: int) -> Generated:
        """One completion; openai exceptions (they carry the request and its headers) never leave."""
        import openai

        kwargs: dict[str, Any] = dict(model=self.model, prompt=prompt, max_tokens=generation.max_new_tokens,
                                      temperature=generation.temperature, seed=seed, n=1)
        if generation.temperature > 0:
            kwargs["top_p"] = generation.top_p
        if self.config.extra_body:
            kwargs["extra_body"] = dict(self.config.extra_body)
        try:
            completion = await client.completions.create(**kwargs)
        except openai.APITimeoutError:
            raise _Failed("timeout", retryable=True) from None
        except openai.APIConnectionError:
            raise _Failed("connection error", retryable=True) from None
        except openai.APIStatusError as exc:
            status = exc.status_code
            message = ""
            body = exc.body
            if isinstance(body, dict):
                detail = body.get("error", body)
                message = self._scrub(str(detail.get("message", detail) if isinstance(detail, dict) else detail))[:200]  # scrubbed whole, then cut
            label = f"http {status}" + (f" {message}" if message else "")
            raise _Failed(label, retryable=status in (408, 409, 429) or status >= 500, drop_endpoint=status in (401, 403, 404)) from None
        except (openai.OpenAIError, ValueError) as exc:
            raise _Failed(f"malformed response ({type(exc).__name__})", retryable=True) from None
        try:
            choice = completion.choices[0]
            # a server that echoes the request (its Authorization header) would put the key in samples.jsonl
            return Generated(self._scrub(choice.text or "").strip(), choice.finish_reason == "length")
        except (AttributeError, IndexError, TypeError) as exc:
            raise _Failed(f"malformed response ({type(exc).__name__})", retryable=True) from None


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
        from hrlaif.models import resolve_model

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
            try:
                import torch

                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
            except ImportError:
                pass

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
