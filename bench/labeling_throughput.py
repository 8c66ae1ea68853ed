"""Labeling throughput through hrlaif's OpenAI judge backend, against the server's own capacity.

Starts `python -m llama_cpp.server` on the embedded SmolLM2-135M GGUF (127.0.0.1, a free port,
n_ctx 2048, 2 threads, and n_batch = n_ubatch = 1: see SAFE_BATCH_ARGS in tests/support/servers.py for why
larger batches crash with SIGILL on this machine) and always stops it at the end. Then, alternating the order each
repetition:

- direct: a plain load of chat-completion requests with openai's AsyncOpenAI client: the same
  rendered judge prompts `label_rlaif` sends (both orders of every comparison), the same
  parameters (temperature 0, logprobs with top 5, and the constraint the judge sends: logit_bias
  +100 on the option tokens' ids from the server's /extras/tokenize, max_tokens 1), the same
  concurrency (a semaphore of `judge.concurrency`). This is what the server can do.
- ours: `label_rlaif` over the same comparisons through `build_judge` with backend 'openai'
  (no cache), i.e. rendering, the request policy, strict parsing (and any re-asks the model's
  answers cause), combining both orders into pairs.
- ours_noreask: the same with `OpenAIJudge(config, reask_limit=0)`: exactly the requests of
  `direct`, so its ratio is the client's own overhead.

Reported: judgments per second (verdicts; for `direct` one request is one judgment), requests
per second, and ours/direct. Goal: ours >= 0.9 x direct. When the model's answer is not exactly
one option, ours re-asks (up to 2 times): those extra requests lower ours' judgments/s but not
its requests/s, so both ratios are printed.

    .venv/bin/python bench/labeling_throughput.py
    .venv/bin/python bench/labeling_throughput.py --smoke
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, LlamaServer, fmt, make_samples, save_result, summary  # noqa: E402  (after the sys.path line: _common sits beside the scripts)

GOAL = 0.9


def option_bias(base_url: str, options: tuple[str, ...] = ("A", "B")) -> dict[str, int]:
    """logit_bias as the judge builds it: +100 on each option's single token, with and without a space."""
    import json
    import urllib.request

    def tokens(text: str) -> list[int]:
        request = urllib.request.Request(base_url[: -len("/v1")] + "/extras/tokenize", data=json.dumps({"input": text}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)["tokens"]

    empty = tokens("")
    ids = set()
    for option in options:
        for text in (option, " " + option):
            got = tokens(text)
            got = got[len(empty):] if got[: len(empty)] == empty else got
            if len(got) == 1:
                ids.add(got[0])
    return {str(i): 100 for i in sorted(ids)}


async def direct_load(chats: list[list[dict]], base_url: str, model: str, concurrency: int, max_tokens: int, top_logprobs: int = 5,
                      bias: dict[str, int] | None = None) -> dict:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key="none", base_url=base_url, max_retries=0, timeout=600)
    semaphore = asyncio.Semaphore(concurrency)
    errors = 0
    texts: list[str] = []

    async def one(chat: list[dict]) -> None:
        nonlocal errors
        async with semaphore:
            try:
                completion = await client.chat.completions.create(
                    model=model, messages=chat, temperature=0.0, max_tokens=1 if bias else max_tokens, logprobs=True,
                    top_logprobs=top_logprobs, **({"logit_bias": bias} if bias else {}),
                )
                texts.append(completion.choices[0].message.content or "")
            except Exception as exc:  # counted, and the first one shown: a failing server must not look fast
                errors += 1
                if errors == 1:
                    print(f"direct request failed: {type(exc).__name__}: {exc}", file=sys.stderr)

    started = time.perf_counter()
    await asyncio.gather(*(one(c) for c in chats))
    wall = time.perf_counter() - started
    await client.close()
    return {"wall_s": wall, "requests": len(chats), "judgments": len(chats) - errors, "errors": errors, "texts": texts}


def run_ours(samples, base_url: str, model: str, concurrency: int, max_tokens: int, reask_limit: int | None) -> dict:
    """label_rlaif through the 'openai' backend; reask_limit None: as build_judge makes it."""
    from collections import Counter

    from hrlaif.config import JudgeConfig
    from hrlaif.judge import build_judge
    from hrlaif.judge.openai_backend import OpenAIJudge
    from hrlaif.labeling.rlaif import label_rlaif

    config = JudgeConfig(
        backend="openai", model=model, base_urls=[base_url], concurrency=concurrency, max_tokens=max_tokens,
        timeout_s=600, api_key_env="HRLAIF_BENCH_NO_KEY",
    )  # fmt: skip
    # No cache: every question goes to the server.
    judge = build_judge(config) if reask_limit is None else OpenAIJudge(config, reask_limit=reask_limit)
    verdicts = []
    ask = judge.ask

    def recording_ask(questions, *a, **kw):
        out = ask(questions, *a, **kw)
        verdicts.extend(out)
        return out

    judge.ask = recording_ask
    started = time.perf_counter()
    pairs, counts = label_rlaif(samples, judge)
    wall = time.perf_counter() - started
    stats = judge.stats
    judge.close()
    reasons = Counter(("ok: " + v.choice) if v.scorable else v.reason.split(":")[0] for v in verdicts)
    return {
        "wall_s": wall, "requests": stats.calls, "judgments": len(verdicts), "unscorable": stats.unscorable,
        "extra_requests": stats.calls - len(verdicts), "pairs": len(pairs), "counts": counts, "verdicts": dict(reasons),
    }  # fmt: skip


def main() -> None:
    from hrlaif.config import JudgeConfig

    defaults = JudgeConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a few requests, seconds")
    parser.add_argument("--comparisons", type=int, default=4, help="pairs to label (two judgments each)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each side, order alternating")
    parser.add_argument("--concurrency", type=int, default=defaults.concurrency)
    parser.add_argument("--max-tokens", type=int, default=defaults.max_tokens)
    args = parser.parse_args()
    if args.smoke:
        args.comparisons, args.reps = 1, 1

    from hrlaif.judge.templates import render
    from hrlaif.labeling.pairwise import candidate_pairs, preference_questions
    from hrlaif.models import embedded_gguf

    samples = make_samples(args.comparisons)
    candidates = candidate_pairs(samples)
    chats = [render(q) for a, b in candidates for q in preference_questions(a, b.response)]
    gguf = embedded_gguf()
    sides = ["direct", "ours", "ours_noreask"]
    runs: dict[str, list[dict]] = {side: [] for side in sides}
    with tempfile.TemporaryDirectory(prefix="hrlaif-bench-label-") as tmp, LlamaServer(gguf, Path(tmp) / "server.log") as server:
        print(f"llama_cpp.server on {gguf.name} at {server.base_url} (model id {server.model!r}), up in {server.start_s:.1f} s", flush=True)
        bias = option_bias(server.base_url)
        print(f"option tokens A/B (with and without a space): {sorted(bias)}", flush=True)
        asyncio.run(direct_load(chats[:2], server.base_url, server.model, args.concurrency, args.max_tokens, bias=bias))  # warm-up
        for rep in range(args.reps):
            order = sides[rep % 3 :] + sides[: rep % 3]  # rotate, so no side always runs first
            for side in order:
                if side == "direct":
                    result = asyncio.run(direct_load(chats, server.base_url, server.model, args.concurrency, args.max_tokens, bias=bias))
                else:
                    reask = None if side == "ours" else 0
                    result = run_ours(samples, server.base_url, server.model, args.concurrency, args.max_tokens, reask)
                result["judgments_per_s"] = result["judgments"] / result["wall_s"]
                result["requests_per_s"] = result["requests"] / result["wall_s"]
                runs[side].append(result)
                print(f"rep {rep} {side:12s}: {result['judgments']} judgments, {result['requests']} requests in {result['wall_s']:.1f} s "
                      f"-> {result['judgments_per_s']:.2f} judgments/s", flush=True)
        server_log_tail = (Path(tmp) / "server.log").read_text(errors="replace")[-500:]
    if server.proc is not None and server.proc.poll() is None:
        raise RuntimeError("llama_cpp.server is still running")

    if any(r["judgments"] == 0 for rs in runs.values() for r in rs):
        raise SystemExit("a run produced no judgments; see the errors above")
    jps = {side: summary([r["judgments_per_s"] for r in rs]) for side, rs in runs.items()}
    rps = {side: summary([r["requests_per_s"] for r in rs]) for side, rs in runs.items()}
    ratio = jps["ours"]["median"] / jps["direct"]["median"]
    overhead_ratio = jps["ours_noreask"]["median"] / jps["direct"]["median"]
    req_ratio = rps["ours"]["median"] / rps["direct"]["median"]
    pairings = [o["judgments_per_s"] / d["judgments_per_s"] for o, d in zip(runs["ours"], runs["direct"])]
    pairings0 = [o["judgments_per_s"] / d["judgments_per_s"] for o, d in zip(runs["ours_noreask"], runs["direct"])]
    first = runs["ours"][0]
    answers: dict[str, int] = {}
    for text in runs["direct"][0]["texts"]:
        answers[text.strip()[:24]] = answers.get(text.strip()[:24], 0) + 1
    met = ratio >= GOAL
    print()
    print(f"{len(candidates)} comparisons = {len(chats)} judgments per run, concurrency {args.concurrency}, max_tokens {args.max_tokens}, {args.reps} rep(s) per side")
    print(f"  direct (AsyncOpenAI load)        : {fmt(jps['direct'], 'judgments/s', 3)}")
    print(f"  ours (label_rlaif, openai judge) : {fmt(jps['ours'], 'judgments/s', 3)}")
    print(f"  ours with re-asks off            : {fmt(jps['ours_noreask'], 'judgments/s', 3)}")
    print(f"  requests/s (medians)             : direct {rps['direct']['median']:.3f}, ours {rps['ours']['median']:.3f}, "
          f"ours re-asks off {rps['ours_noreask']['median']:.3f}")
    print(f"  ours, first run                  : {first['requests']} requests for {first['judgments']} judgments "
          f"({first['extra_requests']} re-asks/retries), {first['unscorable']} unscorable, {first['pairs']} pairs; verdicts {first['verdicts']}")
    print(f"  model's raw answers (direct)     : {dict(sorted(answers.items(), key=lambda kv: -kv[1])[:5])}")
    print(f"  ratio ours/direct (judgments/s)  : {ratio:.3f} (per rep {min(pairings):.3f}-{max(pairings):.3f})")
    print(f"  ratio ours/direct, re-asks off   : {overhead_ratio:.3f} (per rep {min(pairings0):.3f}-{max(pairings0):.3f}): the client's own overhead")
    print(f"  goal ours >= {GOAL} x direct       : {'MET' if met else 'NOT MET'}")
    for r in runs["direct"]:
        r.pop("texts")
    path = save_result(
        "labeling_throughput",
        {
            "settings": {"comparisons": len(candidates), "judgments_per_run": len(chats), "reps": args.reps,
                         "concurrency": args.concurrency, "max_tokens": args.max_tokens, "gguf": gguf.name},
            "judgments_per_s": jps, "requests_per_s": rps, "ratio": ratio, "request_ratio": req_ratio,
            "ratio_range": [min(pairings), max(pairings)], "ratio_reasks_off": overhead_ratio,
            "ratio_reasks_off_range": [min(pairings0), max(pairings0)], "goal": GOAL, "goal_met": met,
            "raw_answers": answers, "runs": runs, "server_log_tail": server_log_tail,
        },
        args.smoke,
    )  # fmt: skip
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
