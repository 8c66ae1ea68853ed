"""Re-running a finished labeling with the SQLite judge cache: judge calls made (goal 0) and speed-up.

A cold run labels comparisons with `label_rlaif` through `build_judge(config, cache_path=...)`
and a fresh cache file (`--cold-reps` times, each with its own new file); then the same
labeling is re-run `--reps` times over the last cold run's cache, each with a new judge
and a new connection to the same cache file (as a new process would), and the script reports:

- judge calls on each re-run (requests to the server, or questions scored by the local model)
  and cache hits; goal: 0 calls,
- whether the re-run's pairs equal the cold run's,
- wall time of the labeling call, cold vs warm (median of the re-runs), and the speed-up.
  Building the judge (loading a local model, ~seconds) is timed apart: a re-run pays it too.

Judges (`--judge`):
- local (default): hrlaif's LocalJudge (option log-probabilities) on `--model` smollm2 (the
  embedded SmolLM2-135M) or tiny (a random 2-layer Llama, for --smoke). It always answers.
- server: the 'openai' backend against `python -m llama_cpp.server` on the embedded GGUF
  (stopped at the end), verdicts constrained to the option tokens (one request each). Failed
  requests are never cached; verdicts unparseable after the re-asks are, so a re-run asks nothing.

    .venv/bin/python bench/warm_cache.py
    .venv/bin/python bench/warm_cache.py --judge server --comparisons 4
    .venv/bin/python bench/warm_cache.py --smoke
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, LlamaServer, build_tiny_model, fmt, make_samples, save_result, summary  # noqa: E402  (after the sys.path line: _common sits beside the scripts)


def _comparable(pair) -> str:
    """The pair as JSON, without the verdicts' `cached` flag (the one thing a cache hit changes)."""
    provenance = pair.provenance.model_copy(update={"verdicts": [v.model_copy(update={"cached": False}) for v in pair.provenance.verdicts]})
    return pair.model_copy(update={"provenance": provenance}).model_dump_json()


def label_once(config, cache_path: Path, samples) -> dict:
    from hrlaif.judge import build_judge
    from hrlaif.labeling.rlaif import label_rlaif

    started = time.perf_counter()
    judge = build_judge(config, cache_path=cache_path)
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    pairs, counts = label_rlaif(samples, judge)
    label_s = time.perf_counter() - started
    stats = judge.stats
    judge.close()
    return {
        "build_s": build_s, "label_s": label_s, "calls": stats.calls, "cache_hits": stats.cache_hits,
        "unscorable": stats.unscorable, "pairs": [_comparable(p) for p in pairs], "counts": counts,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny local judge, a few comparisons, seconds")
    parser.add_argument("--judge", choices=["local", "server"], default="local")
    parser.add_argument("--model", choices=["smollm2", "tiny"], default="smollm2", help="model of the local judge")
    parser.add_argument("--comparisons", type=int, default=32)
    parser.add_argument("--cold-reps", type=int, default=3, help="cold runs, each with a fresh cache file")
    parser.add_argument("--reps", type=int, default=5, help="warm re-runs (after the last cold run)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (see bench/README.md on thread contention)")
    args = parser.parse_args()
    if args.smoke:
        args.judge, args.model, args.comparisons, args.reps, args.cold_reps = "local", "tiny", 3, 3, 1

    import torch

    from hrlaif.config import JudgeConfig

    torch.set_num_threads(args.threads)
    samples = make_samples(args.comparisons)
    with tempfile.TemporaryDirectory(prefix="hrlaif-bench-cache-") as tmp, contextlib.ExitStack() as stack:
        tmp = Path(tmp)
        if args.judge == "local":
            model = str(build_tiny_model(tmp / "tiny", layers=2, hidden=32)) if args.model == "tiny" else "smollm2"
            config = JudgeConfig(backend="local", model=model, batch_size=8)
            desc = f"local judge on {args.model}"
        else:
            from hrlaif.models import embedded_gguf

            server = stack.enter_context(LlamaServer(embedded_gguf(), tmp / "server.log"))
            config = JudgeConfig(backend="openai", model=server.model, base_urls=[server.base_url], timeout_s=600, api_key_env="HRLAIF_BENCH_NO_KEY")
            desc = "openai judge on llama_cpp.server (SmolLM2-135M GGUF)"
        colds = []
        for rep in range(args.cold_reps):
            cache = tmp / f"judge-cache-{rep}.sqlite"
            cold = label_once(config, cache, samples)
            colds.append(cold)
            print(f"cold {rep}: {cold['calls']} judge calls, {cold['cache_hits']} hits, {cold['unscorable']} unscorable, "
                  f"labeling {cold['label_s']:.2f} s (+ {cold['build_s']:.2f} s building the judge)", flush=True)
        warm = []
        for rep in range(args.reps):
            result = label_once(config, cache, samples)
            warm.append(result)
            print(f"warm {rep}: {result['calls']} judge calls, {result['cache_hits']} hits, labeling {result['label_s']:.4f} s "
                  f"(+ {result['build_s']:.2f} s building the judge)", flush=True)
        cache_bytes = cache.stat().st_size + sum(p.stat().st_size for p in tmp.glob(f"{cache.name}-*"))
    same = all(w["pairs"] == cold["pairs"] for w in warm)
    cold_s = summary([c["label_s"] for c in colds])
    cold_total = summary([c["label_s"] + c["build_s"] for c in colds])
    warm_s = summary([w["label_s"] for w in warm])
    warm_total = summary([w["label_s"] + w["build_s"] for w in warm])
    calls = [w["calls"] for w in warm]
    speedup = cold_s["median"] / warm_s["median"]
    speedup_total = cold_total["median"] / warm_total["median"]
    met = max(calls) == 0
    questions = 2 * cold["counts"]["candidates"]
    print()
    print(f"{desc}: {cold['counts']['candidates']} comparisons = {questions} questions, {args.reps} warm re-run(s), "
          f"{args.threads} torch thread(s)")
    print(f"  judge calls on re-run : {calls} (goal 0: {'MET' if met else 'NOT MET'}); cache hits {[w['cache_hits'] for w in warm]}")
    if not met:
        print(f"    the cold run had {cold['unscorable']} unscorable verdicts; those are not cached, so a re-run asks them again")
    print(f"  pairs identical       : {same} (ignoring the verdicts' `cached` flag)")
    print(f"  labeling wall, cold   : {fmt(cold_s, 's', 2)}")
    print(f"  labeling wall, warm   : {fmt(warm_s, 's', 4)}")
    print(f"  speed-up cold/warm    : {speedup:.0f}x (medians, labeling call); {speedup_total:.1f}x counting judge construction")
    print(f"  cache file            : {cache_bytes / 1024:.0f} KiB")
    for r in [*colds, *warm]:
        r["pairs"] = len(r["pairs"])
    path = save_result(
        f"warm_cache-{args.judge}{'-' + args.model if args.judge == 'local' else ''}",
        {
            "settings": {"judge": desc, "comparisons": cold["counts"]["candidates"], "questions": questions, "reps": args.reps, "threads": args.threads},
            "cold": colds, "warm": warm, "cold_label_s": cold_s, "cold_total_s": cold_total, "warm_label_s": warm_s, "warm_total_s": warm_total, "calls_on_rerun": calls,
            "goal_met": met, "pairs_identical": same, "speedup": speedup, "speedup_with_build": speedup_total, "cache_bytes": cache_bytes,
        },
        args.smoke,
    )  # fmt: skip
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
