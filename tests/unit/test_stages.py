"""The stage API: judge roles, the shared judge cache, the order of steps, results-neutral settings."""

from __future__ import annotations

from pathlib import Path

from hrlaif.config import RunConfig, fingerprint, results_view
from hrlaif.judge import judge_cache_path, shared_cache
from hrlaif.judge.role import EVAL, LABEL
from hrlaif.pipeline import steps
from hrlaif.stages import Stage


def test_the_grading_role_falls_back_to_the_labeling_judge() -> None:
    plain = RunConfig()
    assert EVAL.config(plain) is plain.judge and not EVAL.separate(plain) and LABEL.separate(plain)
    graded = RunConfig.model_validate({"evaluate": {"judge": {"backend": "simulated", "model": "grader"}}})
    assert EVAL.config(graded).model == "grader" and EVAL.separate(graded) and LABEL.config(graded) is graded.judge
    assert (LABEL.exam_stage, EVAL.exam_stage) == ("judge-check", "judge-check-eval")
    assert (LABEL.key, EVAL.key) == ("judge", "evaluate.judge")


def test_a_judge_cache_is_the_runs_unless_named_or_shared(tmp_path: Path) -> None:
    judge = RunConfig().judge
    assert judge_cache_path(judge, tmp_path) == tmp_path / "judge_cache.sqlite"
    assert judge_cache_path(judge.model_copy(update={"cache": False}), tmp_path) is None
    shared = shared_cache(judge, tmp_path / "root")
    assert judge_cache_path(shared, tmp_path / "root" / "seed-1") == tmp_path / "root" / "judge_cache.sqlite"
    named = judge.model_copy(update={"cache_file": tmp_path / "mine.sqlite"})
    assert shared_cache(named, tmp_path / "root") is named


def test_steps_label_every_arm_and_audit_the_labels_before_any_training() -> None:
    config = RunConfig.model_validate({"compare": {"algorithms": ["ppo", "dpo"]}, "evaluate": {"judge": {"backend": "simulated"}}})
    names = [s.name if isinstance(s, Stage) else type(s).__name__ for s in steps(config, ["rlaif", "hrlaif"])]
    assert names == ["judge-check", "Qualified", "sample", "label-rlaif", "label-hrlaif", "Audit", "rm-rlaif", "ppo-rlaif", "dpo-rlaif",
                     "redteam", "rm-hrlaif", "ppo-hrlaif", "dpo-hrlaif", "rm-heldout", "judge-check-eval", "eval"]
    off = RunConfig.model_validate({"judge_check": {"enabled": False}, "redteam": {"enabled": False}})
    names = [s.name if isinstance(s, Stage) else type(s).__name__ for s in steps(off, ["hrlaif"])]
    assert names == ["Qualified", "sample", "label-hrlaif", "Audit", "rm-hrlaif", "ppo-hrlaif", "rm-heldout", "eval"]
    dpo_only = RunConfig.model_validate({"compare": {"algorithms": ["dpo"]}})
    assert "rm-heldout" not in [s.name for s in steps(dpo_only, ["rlaif", "hrlaif"]) if isinstance(s, Stage)], "no RM, nothing to score"


def test_results_neutral_fields_leave_the_view_and_nothing_else_does() -> None:
    config = RunConfig()
    assert results_view(config.ppo) == config.ppo.model_dump(mode="json", exclude={"gradient_checkpointing"})
    assert results_view(config.reward) == config.reward.model_dump(mode="json", exclude={"gradient_checkpointing"})
    for section in (config.sample, config.dpo, config.label, config.evaluate, config.redteam):
        assert fingerprint(results_view(section)) == fingerprint(section), "a section without marks is seen whole"


def test_a_stage_fingerprints_exactly_the_stages_it_declares_it_needs(tmp_path: Path) -> None:
    from hrlaif.stages import StageContext

    for overrides in ({"compare": {"algorithms": ["ppo", "dpo"]}, "evaluate": {"judge": {"backend": "simulated"}}},
                      {"redteam": {"enabled": False}, "compare": {"algorithms": ["dpo"]}}):
        config = RunConfig.model_validate({"run_dir": str(tmp_path), **overrides})
        ctx = StageContext(config)
        for stage in [s for s in steps(config, ["rlaif", "hrlaif"]) if isinstance(s, Stage)]:
            asked: list[str] = []
            ctx.fingerprint(stage, lambda name, hint=None, asked=asked: asked.append(name) or "fp")
            assert stage.needs(ctx) == tuple(asked), stage.name
