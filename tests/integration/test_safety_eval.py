"""Safety evaluation: harmful-answer rate on held-out attacks for every policy, with intervals
and differences from start; the optional toxicity classifier, tested with a tiny one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from hrlaif.config import RunConfig
from hrlaif.errors import HrlaifError
from hrlaif.evaluate.safety import ToxicityScorer, eval_attacks, evaluate_safety, toxicity_prompts
from hrlaif.judge.simulated import SimulatedJudge
from hrlaif.records import CONTENT_WARNING
from hrlaif.report import write_report


@pytest.fixture(scope="module")
def tiny_classifier(tiny_model: Path, tmp_path_factory) -> Path:
    """A random two-label LlamaForSequenceClassification with the tiny tokenizer."""
    from transformers import AutoConfig, AutoTokenizer, LlamaForSequenceClassification

    folder = tmp_path_factory.mktemp("tiny-toxicity")
    config = AutoConfig.from_pretrained(tiny_model, num_labels=2)
    torch.manual_seed(1)
    LlamaForSequenceClassification(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(folder)
    return folder


def test_bundled_safety_sets() -> None:
    attacks = eval_attacks(16)
    assert len(attacks) == 16 and len({a.topic for a in attacks}) == 8
    prompts = toxicity_prompts(None)
    assert len(prompts) == 24 and len({p.text for p in prompts}) == 24
    assert all(p.category == "open_ended" for p in prompts)
    assert len(toxicity_prompts(5)) == 5


def test_toxicity_scorer_with_a_tiny_classifier(tiny_classifier: Path) -> None:
    scorer = ToxicityScorer(tiny_classifier, label=1, batch_size=2)
    texts = ["I can't help with that.", "", "12 + 7 = 19", "Here is a short tip: keep a regular sleep schedule."]
    probs = scorer.score(texts)
    assert len(probs) == 4 and all(0.0 <= p <= 1.0 for p in probs)
    other = ToxicityScorer(tiny_classifier, label=0).score(texts)
    assert other == pytest.approx([1 - p for p in probs], abs=1e-5)
    with pytest.raises(HrlaifError, match="toxicity_label=5"):
        ToxicityScorer(tiny_classifier, label=5)
    with pytest.raises(HrlaifError, match="not a model folder"):
        ToxicityScorer(tiny_classifier / "nope")


def test_harm_rate_and_toxicity_for_every_policy(tmp_path, tiny_model, tiny_classifier) -> None:
    config = RunConfig.model_validate({
        "run_dir": str(tmp_path / "run"), "policy": {"path": str(tiny_model), "max_length": 256},
        "evaluate": {"generation": {"max_new_tokens": 12}, "max_attack_prompts": 8, "toxicity_classifier": str(tiny_classifier),
                     "max_toxicity_prompts": 6},
    })
    other = tmp_path / "other-policy"
    shutil.copytree(tiny_model, other)
    policies = {"start": str(tiny_model), "hrlaif": str(other)}
    out = evaluate_safety(policies, SimulatedJudge(config.judge.simulated), config.evaluate, tmp_path, seed=config.seed,
                          max_length=config.policy.max_length)
    assert out["attack_prompts"] == 8 and out["toxicity"]["prompts"] == 6
    for name in policies:
        p = out["policies"][name]
        rate = p["attack_harmful_rate"]
        assert rate["n"] + rate["unscored"] == 8 and rate["low"] <= rate["rate"] <= rate["high"]
        tox = p["toxicity"]
        assert tox["mean_toxic_prob"]["n"] == 6 and tox["mean_toxic_prob"]["low"] <= tox["mean_toxic_prob"]["mean"] <= tox["mean_toxic_prob"]["high"]
        assert tox["toxic_share"]["n"] == 6
        rows = [json.loads(line) for line in (tmp_path / f"safety-{name}.jsonl").read_text().splitlines()]
        assert len(rows) == 14 and all(r["content_warning"] == CONTENT_WARNING for r in rows)
    versus = out["versus_start"]["hrlaif"]
    assert set(versus) == {"attack_harmful_rate_difference", "mean_toxic_prob_difference", "toxic_share_difference"}
    # the same weights answer the same way: no difference
    assert versus["attack_harmful_rate_difference"]["diff"] == 0.0 and versus["mean_toxic_prob_difference"]["diff"] == pytest.approx(0.0)
    assert "start" not in out["versus_start"]


def test_report_refuses_results_of_a_killed_evaluate(tmp_path) -> None:
    """An evaluate killed half-way leaves the previous eval/results.json and no manifest (removed
    first when a stage starts): report stops naming the stage instead of reporting stale figures."""
    from typer.testing import CliRunner

    from hrlaif.cli import app

    from support.human_run import plain_responses, write_eval

    run = write_eval(tmp_path / "run", plain_responses())
    (run / "eval" / "results.json").write_text(json.dumps(_results()))  # the previous evaluate's figures
    (run / "eval" / "manifest.json").unlink()
    result = CliRunner().invoke(app, ["report", str(run)])
    assert result.exit_code == 2, result.output
    assert "eval" in result.output and "hrlaif evaluate" in result.output
    assert not (run / "report").exists()


def _results() -> dict:
    """An eval/results.json with the safety figures, in the evaluation stage's shape."""
    rate = {"successes": 1, "n": 8, "rate": 0.125, "low": 0.02, "high": 0.47}
    diff = {"diff": -0.25, "low": -0.5, "high": 0.0, "n": 8}
    win = {"wins": 1, "ties": 0, "losses": 0, "n": 1, "win_rate": rate, "tie_rate": rate, "loss_rate": rate, "net": diff,
           "position_consistency": rate}
    policy = {"satisfaction": rate, "satisfaction_by_category": {}, "attack_harmful_rate": rate,
              "toxicity": {"mean_toxic_prob": {"mean": 0.2, "low": 0.1, "high": 0.3, "n": 6}, "toxic_share": rate}}
    return {"judge": "simulated", "eval_prompts": 8, "attack_prompts": 8, "toxicity": {"classifier": "x", "toxic_label": 1, "prompts": 6},
            "policies": {"start": policy, "hrlaif": policy},
            "versus_start": {"hrlaif": {"win_ratio": win, "satisfaction_difference": diff, "attack_harmful_rate_difference": diff,
                                        "toxic_share_difference": diff}}}


def test_report_shows_safety_rows(tmp_path) -> None:
    run = tmp_path / "run"
    results = _results()
    (run / "eval").mkdir(parents=True)
    (run / "eval" / "results.json").write_text(json.dumps(results))
    (run / "eval" / "manifest.json").write_text(json.dumps({"stage": "eval", "complete": True}))  # the report needs a stage that ran
    write_report(run)
    md = (run / "report" / "report.md").read_text()
    assert "harmful-answer rate (held-out attacks, n=8)" in md and "12.5% [2.0, 47.0] (n=8)" in md
    assert "harmful-answer rate difference (attacks)" in md and "-25.0 pts [-50.0, +0.0] (n=8)" in md
    assert "mean P(toxic)" in md and "0.200 [0.100, 0.300] (n=6)" in md and "toxic share difference" in md
