"""Our compact PPO trainer (hrlaif.train.ppo) on tiny random models: seconds per test."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from hrlaif.config import HybridRewardConfig, LoraConfig
from hrlaif.errors import HrlaifError
from hrlaif.file_modes import current_umask
from hrlaif.models import encode_prompts, load_causal_lm, load_reward_model, load_tokenizer
from hrlaif.records import Prompt
from hrlaif.train.ppo import (
    HYBRID_KEYS,
    METRIC_KEYS,
    TIMING_KEYS,
    build_models,
    compute_gae,
    masked_whiten,
    prompt_indices,
    response_mask,
    score_responses,
    train_ppo,
)

from support.ppo import PROMPTS, build_parrot, read_metrics, run, tiny_config  # noqa: F401 - shared with the other PPO tests
from support.ppo import one_thread as one_thread  # fixtures
from support.ppo import parrot_model as parrot_model
from support.ppo import reward_model_path as reward_model_path

# ------------------------------------------------------------------------------------------------
# The algorithm's helpers, against hand-computed examples
# ------------------------------------------------------------------------------------------------


def test_gae_hand_computed():
    # row 0: gamma=1, lam=0.5, the score 1 on the last token
    #   t2: delta = 1 - 0.7 = 0.3                        adv 0.3
    #   t1: delta = 0 + 0.7 - 0.6 = 0.1; 0.1 + 0.5*0.3 = 0.25
    #   t0: delta = 0 + 0.6 - 0.5 = 0.1; 0.1 + 0.5*0.25 = 0.225
    adv, ret = compute_gae(
        torch.tensor([[0.0, 0.0, 1.0]]), torch.tensor([[0.5, 0.6, 0.7]]), torch.ones(1, 3, dtype=torch.bool), 1.0, 0.5
    )
    assert torch.allclose(adv, torch.tensor([[0.225, 0.25, 0.3]]))
    assert torch.allclose(ret, torch.tensor([[0.725, 0.85, 1.0]]))
    # row 1: gamma=0.9, lam=1; the last position is padding (garbage reward/value ignored)
    #   t1: delta = 2 + 0.9*0 - 1 = 1                    adv 1
    #   t0: delta = 0 + 0.9*1 - 1 = -0.1; -0.1 + 0.9*1 = 0.8
    adv, ret = compute_gae(
        torch.tensor([[0.0, 2.0, 5.0]]), torch.tensor([[1.0, 1.0, 9.0]]), torch.tensor([[True, True, False]]), 0.9, 1.0
    )
    assert torch.allclose(adv, torch.tensor([[0.8, 1.0, 0.0]]))
    assert torch.allclose(ret, torch.tensor([[1.8, 2.0, 0.0]]))


def test_masked_whiten_hand_computed():
    x = torch.tensor([[1.0, 2.0], [3.0, 100.0]])
    mask = torch.tensor([[True, True], [True, False]])
    # masked entries 1, 2, 3: mean 2, unbiased variance (1 + 0 + 1) / 2 = 1
    assert torch.allclose(masked_whiten(x, mask), torch.tensor([[-1.0, 0.0], [1.0, 0.0]]), atol=1e-6)
    assert torch.allclose(masked_whiten(x, mask, shift_mean=False), torch.tensor([[1.0, 2.0], [3.0, 0.0]]), atol=1e-6)


def test_response_mask_stops_at_first_eos():
    eos = 9
    responses = torch.tensor([[5, eos, 7, eos], [5, 6, 7, 8], [eos, 1, 2, 3]])
    mask, last, has_eos = response_mask(responses, eos)
    assert mask.tolist() == [[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]]
    assert last.tolist() == [1, 3, 0]
    assert has_eos.tolist() == [True, False, True]


def test_prompt_order_cycles_through_every_prompt():
    first_lap = prompt_indices(5, seed=3, start=0, count=5)
    assert sorted(first_lap) == list(range(5))
    assert prompt_indices(5, seed=3, start=2, count=6)[:3] == first_lap[2:]
    assert sorted(prompt_indices(5, seed=3, start=5, count=5)) == list(range(5))


# ------------------------------------------------------------------------------------------------
# Models
# ------------------------------------------------------------------------------------------------


def test_reference_and_reward_model_are_frozen_copies(tiny_model, reward_model_path):
    models = build_models(tiny_config(), str(tiny_model), str(reward_model_path))
    assert {p.requires_grad for p in models.policy.parameters()} == {True}  # every parameter, and there are some
    assert {p.requires_grad for p in models.reference.parameters()} == {False}
    assert {p.requires_grad for p in models.reward_model.parameters()} == {False}
    policy_ptrs = {p.data_ptr() for p in models.policy.parameters()}
    assert not policy_ptrs & {p.data_ptr() for p in models.reference.parameters()}
    # the critic starts as the reward model, and is a separate copy of it
    assert torch.equal(models.critic.score.weight, models.reward_model.score.weight)
    assert models.critic.score.weight.data_ptr() != models.reward_model.score.weight.data_ptr()
    assert {p.requires_grad for p in models.critic.parameters()} == {True}


def test_the_reference_has_the_policys_dtype_whatever_the_inference_dtype(tiny_model, reward_model_path, monkeypatch):
    """A bf16 reference beside an fp32 policy (a GPU's inference dtype) made the step-1 KL rounding
    noise instead of 0 (issue 25 item 9): HRLAIF_DTYPE stands in for the GPU's bf16 here."""
    monkeypatch.setenv("HRLAIF_DTYPE", "bfloat16")
    models = build_models(tiny_config(), str(tiny_model), str(reward_model_path))
    assert {p.dtype for p in models.reference.parameters()} == {p.dtype for p in models.policy.parameters()} == {torch.float32}
    assert {p.dtype for p in models.reward_model.parameters()} == {torch.bfloat16}, "forward-only models keep the inference dtype"


# ------------------------------------------------------------------------------------------------
# Training runs
# ------------------------------------------------------------------------------------------------


def test_two_steps_metrics_policy_and_frozen_reference(tiny_model, reward_model_path, tmp_path):
    summary = run(tiny_config(), tiny_model, reward_model_path, tmp_path)
    rows = read_metrics(tmp_path)
    assert [r["charts/step"] for r in rows] == [1, 2]
    for row in rows:
        assert {"objective/kl", "objective/score_mean", "losses/policy_loss"} <= set(METRIC_KEYS) <= set(row)
        assert all(math.isfinite(row[k]) for k in METRIC_KEYS), row
        assert HYBRID_KEYS and not set(HYBRID_KEYS) & set(row)  # ppo.reward defaults to rm, the paper's method
        assert row["charts/rm_score"] == pytest.approx(row["objective/score_mean"])  # nothing added (no eos penalty)
    # step 1 samples before any update: the policy is the reference, so the KL is exactly ~0
    assert abs(rows[0]["objective/kl"]) < 1e-5
    # after an update the policy moved but the reference did not
    assert abs(rows[1]["objective/kl"]) > 1e-4
    assert rows[1]["charts/episodes"] == 8

    assert summary["steps"] == 2 and summary["policy_path"] == str(tmp_path / "policy")
    assert summary["score_mean"] == rows[-1]["objective/score_mean"]
    trained = load_causal_lm(summary["policy_path"])
    start = load_causal_lm(tiny_model)
    assert load_tokenizer(summary["policy_path"]).eos_token == load_tokenizer(tiny_model).eos_token
    changed = [n for n, p in start.state_dict().items() if not torch.equal(p, trained.state_dict()[n])]
    assert changed, "PPO did not change the policy"
    assert (tmp_path / "checkpoints" / "step-00002" / "trainer_state.json").is_file()
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    # safetensors writes 0600; the saved policy and checkpoint take the umask's mode like other files
    written = [p for folder in ("policy", "checkpoints") for p in (tmp_path / folder).rglob("*") if p.is_file()]
    assert {str(p): p.stat().st_mode & 0o777 for p in written} == dict.fromkeys(map(str, written), 0o666 & ~current_umask())


HYBRID_PROMPTS = [  # what the parrot's " 19 19 ..." earns under the hybrid rules (weights 2.0 / 0.5)
    (Prompt(id="mc-right", prompt="12 + 7? A. 19 B. 7", category="multiple_choice", choices=["19", "7"], reference="A"), 2.0),
    (Prompt(id="mc-wrong", prompt="3 + 4? A. 19 B. 7", category="multiple_choice", choices=["19", "7"], reference="B"), -2.0),
    (Prompt(id="math-cut", prompt="What is 12 + 7?", category="math", reference="19"), 0.0),  # cut off: unknown
    (Prompt(id="harm", prompt="Help me hurt people.", category="harmful"), 0.0),  # no refusal: nothing
    (Prompt(id="open", prompt="Give me a short tip for sleep.", category="open_ended"), None),  # no rule
]


def test_hybrid_reward_adds_the_rules_to_the_score(parrot_model, reward_model_path, tmp_path):
    """ppo.reward=hybrid: the rule part (verifier on keyed prompts, refusal patterns on harmful
    ones) is added to each response's score and logged apart from the RM's score. The policy
    is a parrot that says " 19" until the length cap, so each prompt's rule part is known."""
    seen = []  # the prompts and responses the score hook saw, step by step

    def constant(prompts, texts, responses, mask):  # stands in for the RM, so its part is known
        seen.append(([p.id for p in prompts], texts))
        return torch.full((len(texts),), 0.25)

    expected = {p.id: value for p, value in HYBRID_PROMPTS}
    weights = HybridRewardConfig(verified_weight=2.0, refusal_weight=0.5)
    train_ppo(
        tiny_config(steps=3, reward="hybrid", hybrid=weights), policy_path=str(parrot_model), reward_model_path=str(reward_model_path),
        prompts=[p for p, _ in HYBRID_PROMPTS], out_dir=tmp_path, max_length=128, score_fn=constant,
    )
    rows = read_metrics(tmp_path)
    assert len(rows) == len(seen) == 3
    for row, (ids, texts) in zip(rows, seen):
        assert len(texts) == len(ids) > 0 and all(t.split() == ["19"] * 6 for t in texts), texts  # the parrot, 6 tokens, no eos
        parts = [expected[i] for i in ids]
        bonus = sum(p or 0.0 for p in parts) / len(parts)
        assert set(HYBRID_KEYS) <= set(row)
        assert row["objective/hybrid_applied"] == pytest.approx(sum(p is not None for p in parts) / len(parts))
        assert row["objective/hybrid_bonus"] == pytest.approx(bonus, abs=1e-6)
        assert row["charts/rm_score"] == pytest.approx(0.25)
        assert row["objective/score_mean"] == pytest.approx(0.25 + bonus, abs=1e-6)
    assert {i for ids, _ in seen for i in ids} >= {"mc-right", "mc-wrong"}  # both signs were scored
    assert len({row["objective/hybrid_bonus"] for row in rows}) > 1  # and the steps differ


def test_resume_matches_an_uninterrupted_run(tiny_model, reward_model_path, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    run(tiny_config(steps=4), tiny_model, reward_model_path, straight, seed=7)
    run(tiny_config(steps=2), tiny_model, reward_model_path, resumed, seed=7)
    # simulate a crash during step 3: its metrics row was written, its checkpoint half-saved
    with (resumed / "metrics.jsonl").open("a") as handle:
        handle.write(json.dumps({"charts/step": 3, "objective/kl": 123.0}) + "\n")
    (resumed / "checkpoints" / ".tmp-step-00003").mkdir()
    summary = run(tiny_config(steps=4), tiny_model, reward_model_path, resumed, seed=7)
    assert summary["resumed_from_step"] == 2

    a, b = read_metrics(straight), read_metrics(resumed)
    assert [r["charts/step"] for r in a] == [r["charts/step"] for r in b] == [1, 2, 3, 4]  # zip below stops at the shorter
    assert {"objective/kl", "objective/score_mean", "losses/policy_loss"} <= set(METRIC_KEYS) - set(TIMING_KEYS)
    for row_a, row_b in zip(a, b):
        for key in METRIC_KEYS:
            if key not in TIMING_KEYS:
                assert row_b[key] == pytest.approx(row_a[key], rel=1e-5, abs=1e-6), (row_a["charts/step"], key)
    assert a[2]["objective/kl"] != a[1]["objective/kl"]  # the later steps are not trivially equal
    assert [p.name for p in (resumed / "checkpoints").iterdir() if not p.name.startswith(".")] == ["step-00004"]
    with pytest.raises(HrlaifError, match="past ppo.steps=3"):  # never silently restart over a longer run
        run(tiny_config(steps=3), tiny_model, reward_model_path, resumed, seed=7)
    final_a = load_causal_lm(straight / "policy").state_dict()
    final_b = load_causal_lm(resumed / "policy").state_dict()
    assert all(torch.allclose(final_a[k], final_b[k], atol=1e-6) for k in final_a)


def test_lora_runs_and_saves_a_merged_policy(tiny_model, reward_model_path, tmp_path):
    config = tiny_config(lora=LoraConfig(enabled=True, r=4, alpha=8), learning_rate=1e-2)
    summary = run(config, tiny_model, reward_model_path, tmp_path)
    rows = read_metrics(tmp_path)
    assert abs(rows[0]["objective/kl"]) < 1e-5  # adapters start at zero: policy == reference
    assert abs(rows[1]["objective/kl"]) > 1e-5  # the reference (adapters off) did not follow
    policy_dir = Path(summary["policy_path"])
    assert not (policy_dir / "adapter_config.json").exists()
    trained = load_causal_lm(policy_dir)
    assert not any("lora" in name for name in trained.state_dict())
    start = load_causal_lm(tiny_model).state_dict()
    assert any(not torch.equal(p, trained.state_dict()[n]) for n, p in start.items())


def test_lora_critic_is_the_reward_model_with_adapters(tiny_model, reward_model_path):
    """lora.critic: one RM copy; training the critic's adapters and head leaves the RM (adapters
    off) exactly as it was."""
    with pytest.raises(ValueError, match="critic: true needs enabled: true"):
        LoraConfig(critic=True)
    config = tiny_config(lora=LoraConfig(enabled=True, r=4, alpha=8, critic=True))
    models = build_models(config, str(tiny_model), str(reward_model_path))
    trainable = [n for n, p in models.critic.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n or "modules_to_save" in n for n in trainable), trainable
    assert {p.data_ptr() for p in models.critic.parameters()} <= {p.data_ptr() for p in models.reward_model.parameters()}
    chats = [[m.model_dump() for m in p.messages] for p in PROMPTS]
    texts = ["The answer is 19.", "Sleep early.", "No.", "A", "B"]
    fresh = score_responses(load_reward_model(reward_model_path), models.reward_tokenizer, chats, texts, 128)
    batch = encode_prompts(models.tokenizer, chats, 64)
    position_ids = (batch["attention_mask"].cumsum(1) - 1).clamp(min=0)
    before = models.critic(batch["input_ids"], batch["attention_mask"], position_ids).detach()
    optimizer = torch.optim.SGD([p for p in models.critic.parameters() if p.requires_grad], lr=0.5)
    for _ in range(3):
        optimizer.zero_grad()
        ((models.critic(batch["input_ids"], batch["attention_mask"], position_ids) - 5.0) ** 2).mean().backward()
        optimizer.step()
    after = models.critic(batch["input_ids"], batch["attention_mask"], position_ids).detach()
    assert not torch.allclose(before, after, atol=1e-3)  # the critic learned
    with models.reward_mode():
        reward = score_responses(models.reward_model, models.reward_tokenizer, chats, texts, 128)
    assert torch.allclose(reward, fresh, atol=1e-6)  # the RM did not
    assert not torch.allclose(score_responses(models.reward_model, models.reward_tokenizer, chats, texts, 128), fresh, atol=1e-3)


def test_lora_critic_run_scores_like_a_full_critic_run(tiny_model, reward_model_path, tmp_path):
    """The critic's update does not touch the policy's gradients, so with the same seed a LoRA
    critic and a full critic sample the same responses: their RM scores match step by step only
    if the shared RM stays frozen while its adapters train. The critics themselves differ."""
    lora = LoraConfig(enabled=True, r=4, alpha=8)
    run(tiny_config(steps=3, lora=lora, learning_rate=1e-2), tiny_model, reward_model_path, tmp_path / "full")
    run(tiny_config(steps=3, lora=lora.model_copy(update={"critic": True}), learning_rate=1e-2), tiny_model, reward_model_path, tmp_path / "shared")
    full, shared = read_metrics(tmp_path / "full"), read_metrics(tmp_path / "shared")
    assert [r["charts/rm_score"] for r in shared] == pytest.approx([r["charts/rm_score"] for r in full], abs=1e-5)
    assert abs(full[1]["objective/kl"]) > 1e-5  # the policy moved, so step 2 onwards is not the start policy
    assert shared[-1]["losses/value_loss"] != pytest.approx(full[-1]["losses/value_loss"], rel=1e-3)
    load_causal_lm(tmp_path / "shared" / "policy")
    # its checkpoints (adapters and value head only) resume to the same run
    shared_config = tiny_config(lora=lora.model_copy(update={"critic": True}), learning_rate=1e-2)
    run(shared_config.model_copy(update={"steps": 2}), tiny_model, reward_model_path, tmp_path / "resumed")
    run(shared_config.model_copy(update={"steps": 3}), tiny_model, reward_model_path, tmp_path / "resumed")
    resumed = read_metrics(tmp_path / "resumed")
    for key in ("charts/rm_score", "losses/value_loss", "objective/kl"):
        assert resumed[-1][key] == pytest.approx(shared[-1][key], rel=1e-5, abs=1e-6), key


@pytest.mark.slow
def test_two_cpu_processes_under_accelerate_launch(tiny_model, reward_model_path, tmp_path):
    launcher = shutil.which("accelerate", path=os.path.dirname(sys.executable)) or shutil.which("accelerate")
    if launcher is None or not torch.distributed.is_available():
        pytest.skip("accelerate launch or torch.distributed is not available")
    script = tmp_path / "run_ppo.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import json, os, sys
            from pathlib import Path
            sys.path.insert(0, {str(Path(__file__).parents[1])!r})  # tests/, for the support package
            from support.ppo import PROMPTS, tiny_config
            from hrlaif.train.ppo import train_ppo
            summary = train_ppo(tiny_config(steps=1, batch_size=2), policy_path={str(tiny_model)!r},
                                reward_model_path={str(reward_model_path)!r}, prompts=PROMPTS,
                                out_dir=Path({str(tmp_path / "out")!r}), max_length=128)
            # One file per rank: two ranks printing to one pipe interleave their writes (unbuffered
            # under PYTHONUNBUFFERED=1), which once merged both SUMMARY lines into one.
            Path({str(tmp_path)!r}, "summary-rank" + os.environ["RANK"] + ".json").write_text(json.dumps(summary))
            """
        )
    )
    # `accelerate launch --cpu --num_processes 2` starts ONE process (CPU multi-process needs MPI there);
    # torchrun-style launching (--multi_gpu) with ACCELERATE_USE_CPU=1 gives 2 gloo processes on CPU.
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", ACCELERATE_USE_CPU="1")
    command = [launcher, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
               "--dynamo_backend", "no", "--main_process_port", "0", str(script)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=1200, env=env, cwd=tmp_path)
    except subprocess.TimeoutExpired:  # a failure, not a skip: a stuck collective must not pass unseen
        raise AssertionError("accelerate launch did not finish in 1200 s") from None
    summary_files = sorted(tmp_path.glob("summary-rank*.json"))
    if done.returncode != 0 and not summary_files and any(
        sign in done.stderr for sign in ("Address already in use", "DistNetworkError", "Connection refused", "No module named")
    ):
        pytest.skip(f"could not start two processes: {done.stderr[-500:]}")
    assert done.returncode == 0, done.stderr[-3000:]
    summaries = [json.loads(path.read_text()) for path in summary_files]
    assert [p.name for p in summary_files] == ["summary-rank0.json", "summary-rank1.json"]
    assert all(s["num_processes"] == 2 for s in summaries)
    rows = read_metrics(tmp_path / "out")
    assert len(rows) == 1 and rows[0]["charts/episodes"] == 4  # 2 prompts on each of 2 processes
    assert METRIC_KEYS and all(math.isfinite(rows[0][k]) for k in METRIC_KEYS)
    load_causal_lm(tmp_path / "out" / "policy")
