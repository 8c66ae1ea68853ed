"""PPO memory per setting: bytes per policy parameter, by role, and the peak of a step (CPU).

For each setting {full, LoRA, LoRA + LoRA critic} x {gradient checkpointing off, on}, one fresh
subprocess runs two real PPO steps through `hrlaif.train.ppo.train_ppo` on a random Llama
(hidden 512, 4 layers, the tests' 400-token BPE tokenizer: the weights dominate, so bytes per
parameter mean something) and measures:

- held after step 2 (exact byte counts of live tensors, each storage counted once, in role order
  policy, reference, reward model, critic): each model's parameters (frozen and trained), the
  gradients and the AdamW states (exp_avg, exp_avg_sq, step), and "other" (every other live
  tensor the garbage collector sees: buffers such as rotary tables, rollout tensors), each divided
  by the policy's base parameter count (adapters not included, so settings compare);
- the peak of step 1: the tensors alive when its rollout starts plus the highest net bytes that
  torch's CPU allocator handed out during the step (torch.profiler with profile_memory; frees of
  tensors made before the step are not seen, so this errs high, by nothing in step 1, which
  frees no older tensor), split at the update (the first `train()` call of the step): rollout
  (sampling with KV cache, reference / RM / critic forwards) and update (forward, backward,
  AdamW; where gradient checkpointing acts). Activations scale with batch x length: the settings
  are in the result;
- the process's peak RSS, for scale only: it also holds Python, torch's libraries, freed but
  cached allocator memory and the profiler's own event buffers.

The same numbers follow from a formula (`static_bytes`: parameters, gradients and AdamW states
of each role with each role's dtype), which the script checks against the measurement, then
applies on paper to Llama-3.2-1B, Llama-2-7B and Llama-3.1-70B shapes with the GPU placement the
code uses (hrlaif.placement.pick_placement): trained weights fp32 (bf16 autocast), frozen reference
and reward model bf16, the frozen base under LoRA fp32 (it is loaded for training). Extrapolated
rows hold static state only: no activations, no CUDA context, no allocator cache.

    .venv/bin/python bench/ppo_memory.py           # ~3 min on a shared 2-core machine (6 subprocesses)
    .venv/bin/python bench/ppo_memory.py --smoke   # hidden 64, 2 layers, full and LoRA only
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, peak_rss_mib, ppo_paths, run_child, save_result, save_reward_model_and_prompts  # noqa: E402  (after the sys.path line: _common sits beside the scripts)

MODES = ("full", "lora", "lora-critic")  # ppo.lora: off / enabled / enabled + critic
LORA_R = 16  # ppo.lora.r default; target_modules "all-linear" as hrlaif.train.ppo gives peft
GIB = 1024**3

# Public config.json shapes (Llama family, the architecture the random test models use).
ARCHITECTURES = {
    "1B (Llama-3.2-1B)": dict(vocab=128256, hidden=2048, layers=16, heads=32, kv_heads=8, head_dim=64, intermediate=8192, tied=True),
    "7B (Llama-2-7B)": dict(vocab=32000, hidden=4096, layers=32, heads=32, kv_heads=32, head_dim=128, intermediate=11008, tied=False),
    "70B (Llama-3.1-70B)": dict(vocab=128256, hidden=8192, layers=80, heads=64, kv_heads=8, head_dim=128, intermediate=28672, tied=False),
}
# GPU memory targets; "fits" leaves 20% for activations, the CUDA context and fragmentation.
TARGETS = {"1x80 GB": (80, 1), "1x141 GB (H200)": (141, 1), "8x80 GB, states sharded /8": (80, 8)}
HEADROOM = 0.8


# ---------------------------------------------------------------------------------------------
# the formula (pure arithmetic; tests/integration/test_bench_ppo_memory.py checks it against a measurement)


def llama_counts(arch: dict, r: int = LORA_R) -> dict:
    """Parameter counts of a Llama causal LM, its sequence classifier (the RM: backbone + a
    1-output score head, no lm_head) and the LoRA adapters peft's "all-linear" puts on each."""
    h, inter, hd = arch["hidden"], arch["intermediate"], arch["head_dim"]
    q, kv = arch["heads"] * hd, arch["kv_heads"] * hd
    linears = [(h, q), (h, kv), (h, kv), (q, h), (h, inter), (h, inter), (inter, h)]  # q k v o gate up down
    per_layer = sum(i * o for i, o in linears) + 2 * h  # + two RMSNorm weights
    backbone = arch["vocab"] * h + arch["layers"] * per_layer + h  # + final norm
    adapters = arch["layers"] * sum(r * (i + o) for i, o in linears)
    return {
        "policy": backbone + (0 if arch["tied"] else arch["vocab"] * h),
        "reward": backbone + h,
        "policy_adapters": adapters,
        "critic_adapters": adapters,
        "score_head": h,
    }


def static_bytes(mode: str, counts: dict, *, frozen_dtype_bytes: int) -> dict:
    """Bytes held between steps, by role: weights, gradients (fp32) and AdamW's two fp32 states of
    what trains; the frozen reference and RM in `frozen_dtype_bytes` (4 on CPU, 2 = bf16 on a GPU);
    the frozen base of a LoRA model in fp32 (loaded for training)."""
    P, R = counts["policy"], counts["reward"]
    trained = 4 + 4 + 8  # fp32 weight + fp32 gradient + exp_avg + exp_avg_sq
    if mode == "full":
        return {"policy": P * trained, "reference": P * frozen_dtype_bytes, "reward": R * frozen_dtype_bytes, "critic": R * trained}
    policy = P * 4 + counts["policy_adapters"] * trained
    if mode == "lora":  # reference = the policy with adapters off: no bytes of its own
        return {"policy": policy, "reference": 0, "reward": R * frozen_dtype_bytes, "critic": R * trained}
    # lora-critic: one fp32 RM base serves as RM (adapters off) and critic (adapters + a trained copy of the score head)
    return {"policy": policy, "reference": 0, "reward": R * 4, "critic": (counts["critic_adapters"] + counts["score_head"]) * trained}


def sharded_bytes(mode: str, parts: dict) -> int:
    """The part of `static_bytes` in the models PPO prepares with Accelerate (policy, critic; with
    lora.critic the critic's base is the RM): what ZeRO-3 / FSDP full-shard would divide among
    GPUs. The frozen reference and RM are not prepared: every GPU holds them whole."""
    return parts["policy"] + parts["critic"] + (parts["reward"] if mode == "lora-critic" else 0)


def extrapolate() -> list[dict]:
    """Static GPU bytes per setting for the ARCHITECTURES, and which TARGETS they fit (arithmetic only)."""
    rows = []
    for name, arch in ARCHITECTURES.items():
        counts = llama_counts(arch)
        for mode in MODES:
            parts = static_bytes(mode, counts, frozen_dtype_bytes=2)
            total = sum(parts.values())
            sharded = sharded_bytes(mode, parts)
            fits = {}
            for target, (gb, shards) in TARGETS.items():
                per_gpu = total - sharded + sharded / shards
                fits[target] = {"per_gpu_gib": per_gpu / GIB, "fits": per_gpu <= HEADROOM * gb * 1e9}
            rows.append({
                "model": name, "mode": mode, "policy_parameters": counts["policy"], "bytes_per_policy_parameter": total / counts["policy"],
                "total_gib": total / GIB, "by_role_gib": {k: v / GIB for k, v in parts.items()}, "fits": fits,
            })  # fmt: skip
    return rows


# ---------------------------------------------------------------------------------------------
# orchestration (parent: no torch import)


def settings(smoke: bool) -> list[tuple[str, bool]]:
    modes = ("full", "lora") if smoke else MODES
    return [(mode, ckpt) for mode in modes for ckpt in (False, True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="hidden 64, 2 layers, full and LoRA only (seconds per setting)")
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--mini-batch-size", type=int, default=4)
    parser.add_argument("--response-length", type=int, default=32)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--role", choices=["setup", "measure"], help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--checkpointing", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.hidden, args.layers, args.batch_size, args.mini_batch_size, args.response_length = 64, 2, 4, 2, 8
    if args.role:
        import torch

        torch.set_num_threads(1)
        {"setup": child_setup, "measure": child_measure}[args.role](args)
        return

    workdir = Path(tempfile.mkdtemp(prefix="hrlaif-bench-mem-"))
    common = ["--hidden", str(args.hidden), "--layers", str(args.layers), "--batch-size", str(args.batch_size),
              "--mini-batch-size", str(args.mini_batch_size), "--response-length", str(args.response_length), "--workdir", str(workdir)]  # fmt: skip
    script = str(Path(__file__).resolve())
    threads = {k: "1" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    try:
        run_child([script, "--role", "setup", *common], timeout=600, log=workdir / "setup.log", env=threads)
        runs = []
        for mode, ckpt in settings(args.smoke):
            out = workdir / f"{mode}-{int(ckpt)}.json"
            started = time.perf_counter()
            run_child([script, "--role", "measure", "--mode", mode, *(["--checkpointing"] if ckpt else []), "--out", str(out), *common],
                      timeout=600, log=workdir / f"{mode}-{int(ckpt)}.log", env=threads)  # fmt: skip
            run = json.loads(out.read_text())
            run["process_wall_s"] = time.perf_counter() - started
            runs.append(run)
            print(f"{mode:11s} checkpointing {'on ' if ckpt else 'off'}: {run['bytes_per_parameter']['total']:.1f} B/param held, "
                  f"step-1 peak {run['peak']['step_mib']:.0f} MiB (update {run['peak']['update_mib']:.0f}), {run['process_wall_s']:.0f} s", flush=True)  # fmt: skip
        report(args, runs)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def report(args, runs: list[dict]) -> None:
    print()
    first = runs[0]
    print(f"PPO memory on CPU (fp32), random Llama {first['model_desc']}, {first['policy_parameters']:,} policy parameters; "
          f"batch {args.batch_size}, minibatch {args.mini_batch_size}, 1 PPO epoch, prompt {first['lengths']['prompt_tokens']} + "
          f"response {first['lengths']['response_tokens']} tokens; n=1 run per setting (byte counts are exact, not sampled)")  # fmt: skip
    header = f"{'setting':28s} {'policy':>7s} {'ref':>6s} {'RM':>6s} {'critic':>7s} {'other':>6s} {'total':>6s} {'formula':>7s}  {'peak rollout':>12s} {'peak update':>11s} {'above held':>10s} {'peak RSS':>10s}"
    print(header)
    for run in runs:
        b, p = run["bytes_per_parameter"], run["peak"]
        name = f"{run['mode']} ckpt {'on' if run['checkpointing'] else 'off'}"
        print(f"{name:28s} {b['policy']:7.2f} {b['reference']:6.2f} {b['reward']:6.2f} {b['critic']:7.2f} {b['other']:6.2f} {b['total']:6.2f} "
              f"{run['formula_bytes_per_parameter']:7.2f}  {p['rollout_mib']:9.1f} MiB {p['update_mib']:8.1f} MiB {p['update_above_held_mib']:6.1f} MiB {p['process_peak_rss_mib']:7.0f} MiB")  # fmt: skip
    rows = extrapolate()
    print("\nEXTRAPOLATED on paper (GPU placement: trained fp32, frozen reference/RM bf16; static state only, no activations):")
    for row in rows:
        fits = ", ".join(f"{t}: {f['per_gpu_gib']:.0f} GiB {'fits' if f['fits'] else 'no'}" for t, f in row["fits"].items())
        print(
            f"  {row['model']:20s} {row['mode']:11s} {row['bytes_per_policy_parameter']:5.1f} B/param, {row['total_gib']:7.1f} GiB; {fits}"
        )
    path = save_result(
        "ppo_memory",
        {
            "settings": {k: getattr(args, k) for k in ("hidden", "layers", "batch_size", "mini_batch_size", "response_length")}
            | {"ppo_epochs": 1, "steps": 2, "lora_r": LORA_R, "threads": 1, "dtype": "float32 (CPU)"},
            "runs": runs,
            "extrapolated": rows,
            "extrapolation_assumptions": {
                "placement": "GPU as hrlaif.placement.pick_placement: trained weights fp32 under bf16 autocast, frozen reference and RM bf16, frozen LoRA base fp32",
                "reward_model": "the same architecture as the policy (a sequence classifier: no lm_head, a 1-output score head)",
                "optimizer": "AdamW, two fp32 states per trained parameter (the step counters are ignored)",
                "excluded": "activations, logits, KV cache, the CUDA context, allocator cache and fragmentation",
                "fits": f"per-GPU static state <= {HEADROOM} x the GPU's memory (GB = 1e9 bytes)",
                "sharding": "8 GPUs: the prepared models (policy, critic; their weights, gradients and AdamW states) divided by 8 (ZeRO-3 / FSDP "
                "full-shard arithmetic; hrlaif ppo refuses DeepSpeed and FSDP today), the frozen reference and RM whole on every GPU",
            },
        },
        args.smoke,
    )
    print(f"wrote {path.relative_to(ROOT)}")


# ---------------------------------------------------------------------------------------------
# subprocess roles


def _paths(args) -> tuple[Path, Path, Path]:
    return ppo_paths(args.workdir)


def child_setup(args) -> None:
    """Policy folder, reward-model folder (a sequence classifier of the same shape), prompts."""
    from _common import build_tiny_model

    build_tiny_model(_paths(args)[0], layers=args.layers, hidden=args.hidden, seed=0)
    save_reward_model_and_prompts(args.workdir, args.batch_size)


def _storages(tensors) -> dict[int, int]:
    """data pointer -> bytes of each distinct storage behind `tensors` (views counted once)."""
    out = {}
    for t in tensors:
        if t is None or t.device.type == "meta":
            continue
        storage = t.untyped_storage()
        out[storage.data_ptr()] = storage.nbytes()
    return out


def _live_tensors() -> list:
    import gc

    import torch

    return [o for o in gc.get_objects() if isinstance(o, torch.Tensor)]


def _rss_kib(field: str) -> int | None:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def held_by_role(models, optimizers) -> dict:
    """Bytes of live tensors by role; a storage shared by two roles counts for the first one."""
    seen: set[int] = set()

    def take(tensors) -> int:
        found = {ptr: n for ptr, n in _storages(tensors).items() if ptr not in seen}
        seen.update(found)
        return sum(found.values())

    def params(model, trainable: bool) -> int:
        return take(p for p in model.parameters() if p.requires_grad == trainable) if model is not None else 0

    def opt_state(opt) -> int:
        return take(v for state in opt.state.values() for v in state.values() if hasattr(v, "untyped_storage"))

    policy_opt, critic_opt = optimizers
    held = {
        "policy_params_trained": params(models.policy, True),
        "policy_params_frozen": params(models.policy, False),
        "policy_grads": take(p.grad for p in models.policy.parameters()),
        "policy_adamw": opt_state(policy_opt),
        "reference_params": params(models.reference, False) + params(models.reference, True),
        "reward_params": params(models.reward_model, False),  # frozen only: with lora.critic its adapters are the critic's
        "critic_params_trained": params(models.critic, True),
        "critic_params_frozen": params(models.critic, False),
        "critic_grads": take(p.grad for p in models.critic.parameters()),
        "critic_adamw": opt_state(critic_opt),
    }
    rest = [t for t in _live_tensors() if t.device.type != "meta" and t.untyped_storage().data_ptr() not in seen]
    held["other"] = take(rest)  # buffers (rotary tables), rollout tensors, ...
    largest = sorted(rest, key=lambda t: t.untyped_storage().nbytes(), reverse=True)[:5]
    held["other_largest"] = [f"{tuple(t.shape)} {str(t.dtype).removeprefix('torch.')} {t.untyped_storage().nbytes()} B" for t in largest]
    return held


def _peaks(trace: Path, baseline: int) -> dict:
    """Peak tensor bytes of the profiled step: `baseline` (alive at its start) plus the highest
    'Total Allocated' of torch's CPU allocator events, before and after the update marker."""
    events = json.loads(trace.read_text())["traceEvents"]
    marks = [e["ts"] for e in events if e.get("name") == "bench::update_starts"]
    if not marks:
        raise RuntimeError("the profiled step never reached its update (no bench::update_starts marker)")
    memory = [(e["ts"], e["args"]["Total Allocated"]) for e in events if e.get("name") == "[memory]" and e["args"].get("Device Type") == 0]
    rollout = max((a for ts, a in memory if ts < marks[0]), default=0)
    update = max((a for ts, a in memory if ts >= marks[0]), default=0)
    return {"rollout": baseline + rollout, "update": baseline + update, "memory_events": len(memory)}


def child_measure(args) -> None:
    import torch
    import torch.nn as nn
    from torch.profiler import ProfilerActivity, profile, record_function
    from torch.utils.tensorboard import SummaryWriter
    from transformers import GenerationMixin

    import hrlaif.train.ppo as ppo
    from hrlaif.config import GenerationConfig, LoraConfig, PPOConfig
    from hrlaif.records import Prompt

    policy_dir, reward_dir, prompts_path = _paths(args)
    prompts = [Prompt.model_validate_json(line) for line in prompts_path.read_text().splitlines()]

    # Hooks, none of which changes what PPO computes: the models it builds, the optimizers it
    # makes, the start of step 1 (its first `generate`), the update (first `train()` after that)
    # and each step's end (its tensorboard flush, once per step).
    captured: dict = {"optimizers": [], "lengths": None}
    build = ppo.build_models

    def recording_build(*a, **kw):
        captured["models"] = build(*a, **kw)
        return captured["models"]

    ppo.build_models = recording_build

    class RecordingAdamW(torch.optim.AdamW):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            captured["optimizers"].append(self)

    torch.optim.AdamW = RecordingAdamW
    trace = args.workdir / f"trace-{args.out.stem}.json"
    state: dict = {"profiler": None, "marked": False, "ends": 0}
    generate = GenerationMixin.generate

    def profiled_generate(self, *a, **kw):
        if state["ends"] == 0 and state["profiler"] is None:
            state["baseline"] = sum(_storages(_live_tensors()).values())
            state["rss_start_kib"] = _rss_kib("VmRSS")
            state["profiler"] = profile(activities=[ProfilerActivity.CPU], profile_memory=True)
            state["profiler"].__enter__()
        out = generate(self, *a, **kw)
        if captured["lengths"] is None:
            prompt = kw.get("input_ids") if kw.get("input_ids") is not None else a[0]
            sequences = out if hasattr(out, "shape") else out.sequences
            captured["lengths"] = {"prompt_tokens": int(prompt.shape[1]), "response_tokens": int(sequences.shape[1] - prompt.shape[1])}
        return out

    GenerationMixin.generate = profiled_generate
    module_train = nn.Module.train

    def marking_train(self, mode: bool = True):
        if mode and state["profiler"] is not None and not state["marked"]:
            state["marked"] = True
            with record_function("bench::update_starts"):
                pass
        return module_train(self, mode)

    nn.Module.train = marking_train
    flush = SummaryWriter.flush

    def step_end(self):
        flush(self)
        state["ends"] += 1
        if state["ends"] == 1:
            state["profiler"].__exit__(None, None, None)
            state["profiler"].export_chrome_trace(str(trace))
        elif state["ends"] == 2:  # before the final save merges LoRA adapters away
            captured["held"] = held_by_role(captured["models"], captured["optimizers"])
            captured["adapters"] = {
                name: sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)
                for name, model in (("policy", captured["models"].policy), ("critic", captured["models"].critic))
            }
            captured["policy_parameters"] = sum(p.numel() for n, p in captured["models"].policy.named_parameters() if "lora_" not in n)

    SummaryWriter.flush = step_end

    lora = LoraConfig(enabled=args.mode != "full", critic=args.mode == "lora-critic", r=LORA_R)
    config = PPOConfig(
        steps=2, batch_size=args.batch_size, mini_batch_size=args.mini_batch_size, ppo_epochs=1, checkpoint_every=2,
        gradient_checkpointing=args.checkpointing, lora=lora,
        generation=GenerationConfig(max_new_tokens=args.response_length, temperature=1.0, top_p=1.0, batch_size=args.batch_size),
    )  # fmt: skip
    ppo.train_ppo(config, policy_path=str(policy_dir), reward_model_path=str(reward_dir), prompts=prompts,
                  out_dir=args.workdir / f"run-{args.out.stem}", seed=0, max_length=1024)  # fmt: skip
    if state["ends"] != 2 or "held" not in captured or len(captured["optimizers"]) != 2:
        raise RuntimeError(f"expected 2 step ends and 2 optimizers, saw {state['ends']} and {len(captured['optimizers'])}")

    n_policy = captured["policy_parameters"]
    n_adapters, n_critic_adapters = captured["adapters"]["policy"], captured["adapters"]["critic"]
    held = captured["held"]
    roles = {
        "policy": ("policy_params_trained", "policy_params_frozen", "policy_grads", "policy_adamw"),
        "reference": ("reference_params",),
        "reward": ("reward_params",),
        "critic": ("critic_params_trained", "critic_params_frozen", "critic_grads", "critic_adamw"),
        "other": ("other",),
    }
    per_role = {role: sum(held[k] for k in keys) for role, keys in roles.items()}
    per_role["total"] = sum(per_role.values())
    config_json = json.loads((policy_dir / "config.json").read_text())
    arch = dict(vocab=config_json["vocab_size"], hidden=config_json["hidden_size"], layers=config_json["num_hidden_layers"],
                heads=config_json["num_attention_heads"], kv_heads=config_json["num_key_value_heads"],
                head_dim=config_json.get("head_dim") or config_json["hidden_size"] // config_json["num_attention_heads"],
                intermediate=config_json["intermediate_size"], tied=config_json["tie_word_embeddings"])  # fmt: skip
    counts = llama_counts(arch)
    formula = static_bytes(args.mode, counts, frozen_dtype_bytes=4)
    peaks = _peaks(trace, state["baseline"])
    mib = 1024**2
    args.out.write_text(json.dumps({
        "mode": args.mode, "checkpointing": args.checkpointing,
        "model_desc": f"hidden {arch['hidden']}, {arch['layers']} layers, intermediate {arch['intermediate']}, vocab {arch['vocab']}, tied embeddings",
        "policy_parameters": n_policy, "policy_adapter_parameters": n_adapters, "critic_adapter_parameters": n_critic_adapters,
        "formula_counts": counts,
        "lengths": captured["lengths"],
        "held_bytes": held,
        "bytes_per_parameter": {k: v / n_policy for k, v in per_role.items()},
        "formula_bytes_per_parameter": sum(formula.values()) / n_policy,
        "formula_by_role": {k: v / n_policy for k, v in formula.items()},
        "peak": {
            "baseline_mib": state["baseline"] / mib, "rollout_mib": peaks["rollout"] / mib, "update_mib": peaks["update"] / mib,
            "step_mib": max(peaks["rollout"], peaks["update"]) / mib, "memory_events": peaks["memory_events"],
            "update_above_held_mib": (peaks["update"] - per_role["total"]) / mib,
            "rss_before_step1_mib": state["rss_start_kib"] / 1024, "process_peak_rss_mib": peak_rss_mib(),
        },
    }))  # fmt: skip


if __name__ == "__main__":
    main()
