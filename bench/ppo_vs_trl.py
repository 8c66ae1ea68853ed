"""PPO seconds per step: hrlaif's `train_ppo` against TRL 1.12's `trl.experimental.ppo.PPOTrainer`.

TRL removed PPOTrainer in 1.13, so TRL 1.12.0 is installed apart from the project's TRL, into
bench/.trl112 (`pip install --no-deps --target`), and only the subprocess that runs TRL puts
that folder first on sys.path. Each side runs in its own fresh subprocess (so its peak RSS is
its own), on CPU, float32 (bf16/fp16 off), with the same:

- policy and reference (the same folder), reward model and value model (the same saved
  sequence-classification folder, so both start from identical weights),
- prompts (exactly `batch_size` prompts, so every step of both sides rolls out the same batch
  and the same prompt lengths), rendered with the same chat template and tokens,
- batch size, response length (sampling at temperature 1, top_p 1, top_k 0, stop at eos),
  PPO epochs and minibatches (TRL: per_device_train_batch_size=batch, gradient accumulation 1,
  num_mini_batches=batch/mini_batch, so both take one optimizer step per minibatch),
- KL coefficient, clip ranges, vf_coef, gamma, lambda, learning rate.

With `--lora` both sides train LoRA adapters with one peft config (`LORA`: rank, alpha,
dropout, `target_modules="all-linear"`, task CAUSAL_LM): ours through `ppo.lora.enabled`, TRL
through `peft_config=`; each then takes its reference log-probs from the adapter-free policy
(no second policy copy) and keeps a fully trained critic (ours: `lora.critic` off). Each side
records the modules its peft model adapted and its trainable parameter count, and the run fails
if they differ. Goals (issue 11): ours <= 0.8 x TRL full, <= 0.6 x TRL with LoRA.

`--lora --lora-critic` adds a third side in the same run: ours with `lora.critic` on, the
critic being adapters on the reward model's backbone (its policy adapters the same as the
other two sides'). TRL cannot do that (its critic is always fully trained), so this side does
less work than TRL by design; it is reported apart, as what the LoRA setting hrlaif offers costs.

TRL's PPOConfig defaults that would make it do extra work are switched off and said so:
gradient_checkpointing (default True; ours never checkpoints), bf16 (default True), sample
generations, checkpoint saving, reporting.

Timing: a step is measured end to end as the time between consecutive step ends (ours: the
per-step tensorboard flush; TRL: the `on_step_end` callback), so both include their own
per-step logging; the first step (warm-up, allocator growth, lazy imports) is skipped. Ours'
own `charts/step_seconds` (rollout to metrics, without logging I/O) is reported beside it.
Runs go ours, TRL, TRL, ours, ... (ABBA) to cancel slow drift of a shared machine.
TRL calls gc.collect() twice per step, a fixed ~0.4 s here that dominates its step on a tiny
model; those calls are timed, and TRL's step without them is reported beside the real one.

Threads: each side runs with `--threads` torch/OpenMP threads (default 1). On this 2-core
machine shared with other jobs, torch's default of 2 OpenMP threads makes small kernels 100x
slower whenever another process holds a core (a 64x128 linear: 46 us with 1 thread, 7.8 ms
with 2 while another job ran), which would measure the neighbours, not PPO. Pass
`--threads 2` on an idle machine.

    .venv/bin/python bench/ppo_vs_trl.py            # tiny random Llama (hidden 64, 4 layers)
    .venv/bin/python bench/ppo_vs_trl.py --model smollm2 --steps 3 --rounds 2   # ~18 min
    .venv/bin/python bench/ppo_vs_trl.py --lora     # the same with LoRA on both sides
    .venv/bin/python bench/ppo_vs_trl.py --lora --lora-critic   # and ours with a LoRA critic too
    .venv/bin/python bench/ppo_vs_trl.py --smoke    # seconds
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH_DIR, ROOT, fmt, peak_rss_mib, ppo_paths, run_child, save_result, save_reward_model_and_prompts, summary  # noqa: E402  (after the sys.path line: _common sits beside the scripts)

TRL_DIR = BENCH_DIR / ".trl112"
TRL_VERSION = "1.12.0"
GOALS = {"full": 0.8, "lora": 0.6}  # ours / TRL seconds per step (issue 11)
# Ours' `ppo.lora` defaults and the target hrlaif.train.ppo gives peft; TRL gets the same.
LORA = {"r": 16, "alpha": 32, "dropout": 0.0, "target_modules": "all-linear"}


# ---------------------------------------------------------------------------------------------
# orchestration (parent: no torch import, so it stays small)


def ensure_trl() -> None:
    marker = TRL_DIR / f"trl-{TRL_VERSION}.dist-info"
    if marker.is_dir():
        return
    print(f"installing trl=={TRL_VERSION} into {TRL_DIR} (apart from the project's TRL)", flush=True)
    shutil.rmtree(TRL_DIR, ignore_errors=True)
    import subprocess

    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(TRL_DIR), f"trl=={TRL_VERSION}"],
        check=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds")
    parser.add_argument("--model", choices=["tiny", "smollm2"], default="tiny")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--steps", type=int, default=10, help="measured steps per run (one warm-up step is added)")
    parser.add_argument("--rounds", type=int, default=4, help="runs per side, alternating ABBA")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--mini-batch-size", type=int, default=4)
    parser.add_argument("--ppo-epochs", type=int, default=2)
    parser.add_argument("--response-length", type=int, default=48)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per side (see the module docstring)")
    parser.add_argument("--lora", action="store_true", help="both sides train LoRA adapters (the LORA peft config)")
    parser.add_argument("--lora-critic", action="store_true", help="with --lora: a third side, ours with lora.critic on")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--role", choices=["setup", "ours", "trl"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.hidden, args.layers, args.steps, args.rounds = 32, 2, 2, 1
        args.batch_size, args.mini_batch_size, args.ppo_epochs, args.response_length = 4, 2, 1, 8
        if args.model != "tiny":
            args.steps = 1
    if args.lora_critic and not args.lora:
        parser.error("--lora-critic needs --lora")
    if args.batch_size % args.mini_batch_size:
        parser.error("--batch-size must be a multiple of --mini-batch-size (TRL needs whole minibatches)")
    if args.role:
        if args.role != "setup":
            import torch

            torch.set_num_threads(args.threads)
        {"setup": child_setup, "ours": child_ours, "trl": child_trl}[args.role](args)
        return

    ensure_trl()
    workdir = Path(tempfile.mkdtemp(prefix="hrlaif-bench-ppo-"))
    common = [
        "--model", args.model, "--hidden", str(args.hidden), "--layers", str(args.layers), "--steps", str(args.steps),
        "--batch-size", str(args.batch_size), "--mini-batch-size", str(args.mini_batch_size),
        "--ppo-epochs", str(args.ppo_epochs), "--response-length", str(args.response_length), "--workdir", str(workdir),
        "--threads", str(args.threads), *(["--lora"] if args.lora else []),
    ]  # fmt: skip
    script = str(Path(__file__).resolve())
    timeout = 3600
    try:
        print(f"work folder {workdir}; setting up {args.model} models", flush=True)
        run_child([script, "--role", "setup", *common], timeout=timeout, log=workdir / "setup.log")
        sides = ["ours", "trl", *(["ours_lora_critic"] if args.lora_critic else [])]
        runs: dict[str, list[dict]] = {side: [] for side in sides}
        for r in range(args.rounds):
            for side in sides if r % 2 == 0 else sides[::-1]:
                out = workdir / f"{side}-{r}.json"
                started = time.perf_counter()
                role = ["--role", "ours", "--lora-critic"] if side == "ours_lora_critic" else ["--role", side]
                run_child([script, *role, "--out", str(out), *common], timeout=timeout, log=workdir / f"{side}-{r}.log", env=thread_env(args.threads))
                result = json.loads(out.read_text())
                result["process_wall_s"] = time.perf_counter() - started
                result["load_average_1min_after"] = round(os.getloadavg()[0], 2)
                runs[side].append(result)
                s = summary(result["step_s"])
                print(f"round {r} {side}: {fmt(s)}; peak RSS {result['peak_rss_mib']:.0f} MiB; process {result['process_wall_s']:.1f} s", flush=True)
        report(args, runs)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def thread_env(threads: int) -> dict:
    return {k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}


def report(args, runs: dict[str, list[dict]]) -> None:
    kind = "lora" if args.lora else "full"
    if args.lora:  # the same policy adapters on every side, or the comparison is void
        adapted = {side: {(tuple(r["lora"]["adapted_names"]), r["lora"]["trainable_parameters"]) for r in rs} for side, rs in runs.items()}
        if len(set().union(*adapted.values())) != 1:
            raise RuntimeError(f"the sides' LoRA policy adapters differ: {adapted}")
    goal = GOALS[kind]
    pooled = {side: summary([x for r in rs for x in r["step_s"]]) for side, rs in runs.items()}
    inner = summary([x for r in runs["ours"] for x in r["inner_step_s"]])
    trl_gc = summary([x for r in runs["trl"] for x in r["gc_s"]])
    trl_nogc = summary([s - g for r in runs["trl"] for s, g in zip(r["step_s"], r["gc_s"])])
    ratio_nogc = pooled["ours"]["median"] / trl_nogc["median"]
    per_round = {side: [summary(r["step_s"])["median"] for r in rs] for side, rs in runs.items()}

    def against_trl(side: str) -> tuple[float, list[float]]:
        """Pooled median ratio, and its spread: every pairing of a run's median on `side` with one of TRL's."""
        pairs = [o / t for o in per_round[side] for t in per_round["trl"]]
        return pooled[side]["median"] / pooled["trl"]["median"], [min(pairs), max(pairs)]

    ratio, ratio_range = against_trl("ours")
    rss = {side: max(r["peak_rss_mib"] for r in rs) for side, rs in runs.items()}
    met = ratio <= goal
    critic_side = None
    if "ours_lora_critic" in runs:
        critic_ratio, critic_range = against_trl("ours_lora_critic")
        critic_side = {"step_s": pooled["ours_lora_critic"], "ratio": critic_ratio, "ratio_range": critic_range, "goal_met": critic_ratio <= goal,
                       "peak_rss_mib": rss["ours_lora_critic"], "critic_adapters": runs["ours_lora_critic"][0]["lora"].get("critic")}  # fmt: skip
    print()
    print(f"PPO on CPU, model={args.model} ({runs['ours'][0]['model_desc']}), batch {args.batch_size}, "
          f"minibatch {args.mini_batch_size}, {args.ppo_epochs} PPO epoch(s), response length {args.response_length}, "
          f"{args.steps} measured steps x {args.rounds} run(s) per side, {args.threads} torch thread(s) per side, "
          f"{'LoRA ' + str(LORA) if args.lora else 'full fine-tune'}")
    print(f"  ours (hrlaif train_ppo)      : {fmt(pooled['ours'])}")
    print(f"    ours charts/step_seconds   : {fmt(inner)}")
    if critic_side:
        print(f"  ours, LoRA critic too        : {fmt(pooled['ours_lora_critic'])}")
    print(f"  TRL {TRL_VERSION} PPOTrainer       : {fmt(pooled['trl'])}")
    print(f"    TRL's gc.collect() per step: {fmt(trl_gc)}")
    print(f"    TRL without gc.collect()   : {fmt(trl_nogc)}")
    print(f"  per-run medians              : ours {[round(x, 3) for x in per_round['ours']]}, TRL {[round(x, 3) for x in per_round['trl']]}")
    print(f"  peak RSS                     : ours {rss['ours']:.0f} MiB, TRL {rss['trl']:.0f} MiB")
    print(f"  mean generated tokens/step   : ours {runs['ours'][0]['response_tokens']:.1f}, TRL {runs['trl'][0]['response_tokens']:.1f}")
    print(f"  ratio ours/TRL (median s/step): {ratio:.3f} (per-run pairings {ratio_range[0]:.3f}-{ratio_range[1]:.3f})")
    print(f"  ratio ours/(TRL - gc.collect): {ratio_nogc:.3f}")
    print(f"  load average (1 min) per run : {[r['load_average_1min_after'] for rs in runs.values() for r in rs]}")
    print(f"  goal ours <= {goal} x TRL     : {'MET' if met else 'NOT MET'}")
    if critic_side:
        low, high = critic_side["ratio_range"]
        print(f"  ratio ours with LoRA critic/TRL: {critic_side['ratio']:.3f} (per-run pairings {low:.3f}-{high:.3f}; "
              f"less work than TRL by design; peak RSS {critic_side['peak_rss_mib']:.0f} MiB), goal {'MET' if critic_side['goal_met'] else 'NOT MET'}")
    path = save_result(
        f"ppo_vs_trl-{args.model}" + ("-lora" if args.lora else "") + ("-critic" if args.lora_critic else ""),
        {
            "settings": {k: getattr(args, k) for k in ("model", "hidden", "layers", "steps", "rounds", "batch_size", "mini_batch_size", "ppo_epochs", "response_length", "threads", "lora", "lora_critic")},
            "lora_config": LORA if args.lora else None,
            "lora_adapters": runs["ours"][0].get("lora"),
            "model_desc": runs["ours"][0]["model_desc"],
            "ours_step_s": pooled["ours"],
            "ours_inner_step_s": inner,
            "trl_step_s": pooled["trl"],
            "trl_gc_collect_s": trl_gc,
            "trl_step_without_gc_s": trl_nogc,
            "ratio_vs_trl_without_gc": ratio_nogc,
            "per_run_median_s": per_round,
            "peak_rss_mib": rss,
            "ratio": ratio,
            "ratio_range": ratio_range,
            "goal": goal,
            "goal_met": met,
            "ours_lora_critic": critic_side,
            "trl_settings_changed": runs["trl"][0]["settings_changed"],
            "runs": runs,
        },
        args.smoke,
    )
    print(f"wrote {path.relative_to(ROOT)}")


# ---------------------------------------------------------------------------------------------
# subprocess roles


def _paths(args) -> tuple[Path, Path, Path]:
    return ppo_paths(args.workdir)


def child_setup(args) -> None:
    """Policy folder, reward/value folder (saved once: identical init for both sides), prompts."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hrlaif.models import resolve_model

    policy = _paths(args)[0]
    if args.model == "tiny":
        from _common import build_tiny_model

        build_tiny_model(policy, layers=args.layers, hidden=args.hidden, seed=0)
    else:
        # SmolLM2's pad token is its eos (<|im_end|>); TRL would then treat every <|im_end|> of
        # the prompt as padding. Both sides get a copy whose pad is <|endoftext|> (id 0).
        source = resolve_model("smollm2")
        tokenizer = AutoTokenizer.from_pretrained(source)
        tokenizer.pad_token = "<|endoftext|>"
        tokenizer.save_pretrained(policy)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
        model.config.pad_token_id = tokenizer.pad_token_id
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.save_pretrained(policy)
        del model
    save_reward_model_and_prompts(args.workdir, args.batch_size)


def _count_generated_tokens() -> list[int]:
    """Patch `generate` to record the new tokens of each call (batch width; the cost driver)."""
    from transformers import GenerationMixin

    counts: list[int] = []
    original = GenerationMixin.generate

    def generate(self, *a, **kw):
        out = original(self, *a, **kw)
        sequences = out if hasattr(out, "shape") else out.sequences
        prompt = kw.get("input_ids") if kw.get("input_ids") is not None else a[0]
        counts.append(int(sequences.shape[1] - prompt.shape[1]))
        return out

    GenerationMixin.generate = generate
    return counts


def _record_lora(get_peft_model) -> tuple[dict, object]:
    """Wrap peft's `get_peft_model` to record what it adapted: the proof both sides train the same
    policy adapters. A critic's adapters (task SEQ_CLS, ours with lora.critic) go under "critic"."""
    seen: dict = {}

    def wrapped(model, *a, **kw):
        peft_model = get_peft_model(model, *a, **kw)
        names = sorted(n.rsplit(".lora_A", 1)[0].split("base_model.model.", 1)[-1] for n, _ in peft_model.named_modules() if n.endswith(".lora_A"))
        record = dict(adapted_modules=len(names), adapted_names=names,
                      trainable_parameters=sum(p.numel() for p in peft_model.parameters() if p.requires_grad))  # fmt: skip
        task = str(getattr(peft_model.peft_config["default"], "task_type", ""))
        if task.endswith("SEQ_CLS"):
            seen["critic"] = {"adapted_modules": record["adapted_modules"], "trainable_parameters": record["trainable_parameters"]}
        else:
            seen.update(record)
        return peft_model

    return seen, wrapped


def _model_desc(policy: Path) -> str:
    config = json.loads((policy / "config.json").read_text())
    return f"hidden {config['hidden_size']}, {config['num_hidden_layers']} layers, vocab {config['vocab_size']}"


def child_ours(args) -> None:
    import peft
    from torch.utils.tensorboard import SummaryWriter

    from hrlaif.config import GenerationConfig, LoraConfig, PPOConfig
    from hrlaif.records import Prompt
    from hrlaif.train.ppo import train_ppo

    policy, reward, prompts_path = _paths(args)
    prompts = [Prompt.model_validate_json(line) for line in prompts_path.read_text().splitlines()]
    ends: list[float] = []
    flush = SummaryWriter.flush

    def timed_flush(self):  # train_ppo flushes once per step, right after writing its metrics
        flush(self)
        ends.append(time.perf_counter())

    SummaryWriter.flush = timed_flush
    generated = _count_generated_tokens()
    lora_seen, peft.get_peft_model = _record_lora(peft.get_peft_model)  # train_ppo imports it from peft when it builds
    lora = LoraConfig(enabled=True, r=LORA["r"], alpha=LORA["alpha"], dropout=LORA["dropout"], critic=args.lora_critic) if args.lora else LoraConfig()
    total = args.steps + 1
    config = PPOConfig(
        steps=total, batch_size=args.batch_size, mini_batch_size=args.mini_batch_size, ppo_epochs=args.ppo_epochs,
        checkpoint_every=total,  # one checkpoint, after the last timed step
        generation=GenerationConfig(max_new_tokens=args.response_length, temperature=1.0, top_p=1.0, batch_size=args.batch_size),
        lora=lora,
    )  # fmt: skip
    out_dir = args.workdir / f"ours-{args.out.stem}"
    started = time.perf_counter()
    train_ppo(config, policy_path=str(policy), reward_model_path=str(reward), prompts=prompts, out_dir=out_dir, seed=0, max_length=1024)
    metrics = [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]
    if len(ends) != total:
        raise RuntimeError(f"expected {total} step ends, saw {len(ends)}")
    args.out.write_text(json.dumps({
        "step_s": [b - a for a, b in zip(ends, ends[1:])],
        "first_step_s": ends[0] - started,
        "inner_step_s": [m["charts/step_seconds"] for m in metrics[1:]],
        "response_tokens": sum(generated) / len(generated),
        "peak_rss_mib": peak_rss_mib(),
        "model_desc": _model_desc(policy),
        "lora": lora_seen or None,
    }))  # fmt: skip


def child_trl(args) -> None:
    sys.path.insert(0, str(TRL_DIR))  # TRL 1.12 shadows the project's TRL in this process only
    import torch
    import trl
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer, TrainerCallback

    if trl.__version__ != TRL_VERSION or not trl.__file__.startswith(str(TRL_DIR)):
        raise RuntimeError(f"expected TRL {TRL_VERSION} from {TRL_DIR}, got {trl.__version__} from {trl.__file__}")
    import trl.experimental.ppo.ppo_trainer as ppo_trainer
    from peft import LoraConfig as PeftLoraConfig
    from trl.experimental.ppo import PPOConfig, PPOTrainer

    lora_seen, ppo_trainer.get_peft_model = _record_lora(ppo_trainer.get_peft_model)

    from hrlaif.models import chat_prompt
    from hrlaif.records import Prompt

    policy_dir, reward_dir, prompts_path = _paths(args)
    prompts = [Prompt.model_validate_json(line) for line in prompts_path.read_text().splitlines()]
    tokenizer = AutoTokenizer.from_pretrained(policy_dir, padding_side="left")
    # The same tokens ours feeds `generate` (hrlaif.models.encode_prompts, before padding).
    ids = [tokenizer(chat_prompt(tokenizer, [m.model_dump() for m in p.messages]), add_special_tokens=False)["input_ids"] for p in prompts]
    dataset = Dataset.from_dict({"input_ids": ids})

    def load_policy():
        return AutoModelForCausalLM.from_pretrained(policy_dir, dtype=torch.float32)

    def load_rm():
        return AutoModelForSequenceClassification.from_pretrained(reward_dir, num_labels=1, dtype=torch.float32)

    ends: list[float] = []
    generated = _count_generated_tokens()
    # TRL calls gc.collect() twice per step (after the rollout and after the update); with a
    # tiny model that fixed cost dominates its step. Time it, to report TRL without it too.
    import gc

    gc_seconds = [0.0]
    gc_marks: list[float] = []
    collect = gc.collect

    def timed_collect(*a, **kw):
        start = time.perf_counter()
        try:
            return collect(*a, **kw)
        finally:
            gc_seconds[0] += time.perf_counter() - start

    gc.collect = timed_collect

    class StepEnd(TrainerCallback):
        def on_step_end(self, args_, state, control, **kwargs):
            ends.append(time.perf_counter())
            gc_marks.append(gc_seconds[0])

    total = args.steps + 1
    settings_changed = {
        "gradient_checkpointing": "False (TRL default True; ours does not checkpoint)",
        "bf16": "False (TRL default True)",
        "num_sample_generations": "0 (TRL default 10: extra generation on an eval set)",
        "save_strategy": "no", "report_to": "none",
        "vf_coef": "0.5 (TRL default 0.1; ours 0.5)",
        "stop_token": "eos (ours stops at eos too)",
    }  # fmt: skip
    config = PPOConfig(
        output_dir=str(args.workdir / f"trl-{args.out.stem}"),
        per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=1,
        num_mini_batches=args.batch_size // args.mini_batch_size,
        local_rollout_forward_batch_size=args.batch_size,
        num_ppo_epochs=args.ppo_epochs,
        total_episodes=args.batch_size * total,
        response_length=args.response_length,
        temperature=1.0,
        stop_token="eos",
        learning_rate=3e-6, kl_coef=0.05, cliprange=0.2, cliprange_value=0.2, vf_coef=0.5, gamma=1.0, lam=0.95,
        whiten_rewards=False, missing_eos_penalty=None,
        bf16=False, fp16=False, use_cpu=True, gradient_checkpointing=False,
        num_sample_generations=0, save_strategy="no", report_to="none", logging_steps=1, disable_tqdm=True,
        dataloader_num_workers=0, seed=0,
    )  # fmt: skip
    # With peft_config and no ref_model, TRL's reference is the policy with its adapters disabled.
    peft_config = PeftLoraConfig(
        r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"], target_modules=LORA["target_modules"], task_type="CAUSAL_LM",
    ) if args.lora else None  # fmt: skip
    trainer = PPOTrainer(
        args=config, processing_class=tokenizer, model=load_policy(), ref_model=None if args.lora else load_policy(),
        reward_model=load_rm(), value_model=load_rm(), train_dataset=dataset, eval_dataset=None, callbacks=[StepEnd()],
        peft_config=peft_config,
    )  # fmt: skip
    started = time.perf_counter()
    trainer.train()
    if len(ends) != total:
        raise RuntimeError(f"expected {total} step ends, saw {len(ends)}")
    args.out.write_text(json.dumps({
        "step_s": [b - a for a, b in zip(ends, ends[1:])],
        "gc_s": [b - a for a, b in zip(gc_marks, gc_marks[1:])],
        "first_step_s": ends[0] - started,
        "response_tokens": sum(generated) / len(generated),
        "peak_rss_mib": peak_rss_mib(),
        "model_desc": _model_desc(policy_dir),
        "settings_changed": settings_changed,
        "lora": lora_seen or None,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
