"""Every arm against the start policy on held-out prompts: satisfaction, win ratio, safety.

Each policy answers the eval prompts (greedy by default); each answer is scored
(`satisfaction.score_samples`); each trained arm is compared with the start policy pairwise
(`win_ratio`) and per prompt (`summary.satisfaction_difference`); then the safety evaluation
(`safety.evaluate_safety`) adds harmful-answer and toxicity rates to the same results.
"""

from __future__ import annotations

from pathlib import Path

from hrlaif.config import EvaluateConfig, ModelConfig
from hrlaif.evaluate.safety import evaluate_safety
from hrlaif.evaluate.satisfaction import score_samples
from hrlaif.evaluate.summary import accuracy_difference, policy_summary, satisfaction_difference
from hrlaif.evaluate.win_ratio import PairwiseVerdict, win_ratio
from hrlaif.jsonl import write_jsonl
from hrlaif.judge.base import Judge
from hrlaif.records import Prompt, Sample
from hrlaif.run_dir import RunDir
from hrlaif.sampling import sample_responses


def evaluate_arms(
    policies: dict[str, str], prompts: list[Prompt], judge: Judge, ev: EvaluateConfig, out_dir: Path, *, seed: int, max_length: int,
    backends: dict[str, ModelConfig] | None = None,
) -> dict:
    """`policies` maps a name to a model path and must hold "start"; every other name is an arm.
    `backends` maps a name to the `policy` section whose backend generates its answers
    (hrlaif.serving); names left out generate with transformers.
    Writes responses-NAME.jsonl, scores-NAME.jsonl, pairwise-ARM.jsonl (the judge's per-prompt
    win-ratio verdicts) and the safety answers into `out_dir` (RUN/eval/, named as RunDir names them);
    returns the results (RUN/eval/results.json)."""
    responses: dict[str, list[Sample]] = {}
    scores = {}
    for name, path in policies.items():
        responses[name] = sample_responses(
            prompts, path, ev.generation, num_samples=1, seed=seed, max_length=max_length,
            policy_name=name, desc=f"eval responses ({name})", backend=(backends or {}).get(name),
        )
        write_jsonl(out_dir / RunDir.responses_name(name), responses[name])
        scores[name] = score_samples(responses[name], judge, desc=f"scoring ({name})")
        write_jsonl(out_dir / RunDir.scores_name(name), scores[name])
    results = {
        "judge": judge.name,
        "eval_prompts": len(prompts),
        "max_new_tokens": ev.generation.max_new_tokens,  # the cap that cut off the answers counted as "cut_off"
        "policies": {name: policy_summary(s, ev.confidence) for name, s in scores.items()},
        "versus_start": {},
    }
    for mode in (name for name in policies if name != "start"):
        ratio = None
        if ev.win_ratio:
            verdicts: list[PairwiseVerdict] = []
            ratio = win_ratio(judge, responses[mode], responses["start"], ev.confidence, desc=f"win ratio ({mode})", verdicts=verdicts).model_dump()
            write_jsonl(out_dir / RunDir.pairwise_name(mode), verdicts)
        results["versus_start"][mode] = {
            "win_ratio": ratio,  # None: evaluate.win_ratio was off
            "satisfaction_difference": satisfaction_difference(scores[mode], scores["start"], ev.confidence),
            # over keyed prompts where both answers were decided (a cut-off or unknown answer decides no pair)
            "accuracy_difference": accuracy_difference(scores[mode], scores["start"], ev.confidence),
        }
    safety = evaluate_safety(policies, judge, ev, out_dir, seed=seed, max_length=max_length, backends=backends)
    results["attack_prompts"] = safety["attack_prompts"]
    for name, extra in safety["policies"].items():
        results["policies"][name].update(extra)
    for mode, extra in safety["versus_start"].items():
        results["versus_start"][mode].update(extra)
    if "toxicity" in safety:
        results["toxicity"] = safety["toxicity"]
    return results
