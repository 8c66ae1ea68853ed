"""RunDir spells the layout the stages write: every path here is the name a run directory has
on disk (and had before RunDir), so renaming one by accident fails here."""

from __future__ import annotations

from pathlib import Path

from hrlaif.run_dir import RunDir


def test_stage_paths_are_the_layout_the_stages_write(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    assert run.root == tmp_path and Path(run) == tmp_path and RunDir(str(tmp_path)) == run
    assert run.config == tmp_path / "config.yaml"
    assert run.judge_cache == tmp_path / "judge_cache.sqlite"
    assert run.manifest("label-rlaif") == tmp_path / "label-rlaif" / "manifest.json"
    assert run.samples == tmp_path / "sample" / "samples.jsonl"
    assert run.labels("hrlaif") == tmp_path / "label-hrlaif" / "pairs.jsonl"
    assert run.labels("rlaif") == tmp_path / "label-rlaif" / "pairs.jsonl"
    assert run.exam("label") == tmp_path / "judge-check" / "result.json"
    assert run.exam("eval") == tmp_path / "judge-check-eval" / "result.json"
    assert run.redteam == tmp_path / "redteam"
    assert run.redteam_pairs == tmp_path / "redteam" / "pairs.jsonl"
    assert run.redteam_summary == tmp_path / "redteam" / "summary.json"
    assert run.redteam_attacks == tmp_path / "redteam" / "attacks.jsonl"
    assert run.redteam_answers == tmp_path / "redteam" / "answers.jsonl"
    assert run.reward_model("hrlaif") == tmp_path / "rm-hrlaif" / "model"
    assert run.reward_summary("rlaif") == tmp_path / "rm-rlaif" / "summary.json"
    assert run.policy("ppo-hrlaif") == tmp_path / "ppo-hrlaif" / "policy"
    assert run.policy(run.dpo_stage("rlaif")) == tmp_path / "dpo-rlaif" / "policy"
    assert run.training_summary("dpo-hrlaif") == tmp_path / "dpo-hrlaif" / "summary.json"
    assert run.ppo_metrics("rlaif") == tmp_path / "ppo-rlaif" / "metrics.jsonl"
    assert run.ppo_checkpoint_marker("hrlaif") == tmp_path / "ppo-hrlaif" / "checkpoint-fingerprint"
    assert [f(m) for m in ("rlaif", "hrlaif") for f in (RunDir.label_stage, RunDir.rm_stage, RunDir.ppo_stage, RunDir.dpo_stage)] == [
        "label-rlaif", "rm-rlaif", "ppo-rlaif", "dpo-rlaif", "label-hrlaif", "rm-hrlaif", "ppo-hrlaif", "dpo-hrlaif"]


def test_evaluation_and_derived_paths(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    assert run.eval == tmp_path / "eval"
    assert run.eval_results == tmp_path / "eval" / "results.json"
    assert run.eval_responses("start") == tmp_path / "eval" / "responses-start.jsonl"
    assert run.eval_scores("dpo-hrlaif") == tmp_path / "eval" / "scores-dpo-hrlaif.jsonl"
    assert run.eval_pairwise("rlaif") == tmp_path / "eval" / "pairwise-rlaif.jsonl"
    assert run.eval_safety("hrlaif") == tmp_path / "eval" / "safety-hrlaif.jsonl"
    assert run.audit == tmp_path / "audit" / "audit.json"
    assert run.report == tmp_path / "report"
    assert run.export("trl") == tmp_path / "export" / "trl"
    assert run.human_ratings == tmp_path / "human" / "ratings.sqlite"
    assert run.human_results == tmp_path / "human" / "results.json"
    assert run.seed_run(2).root == tmp_path / "seed-2"
    assert run.labeler_run("big").eval_results == tmp_path / "big" / "eval" / "results.json"


def test_listing_finds_only_existing_files_sorted_by_name(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    assert run.all_eval_scores() == {} and run.all_eval_responses() == {}  # no eval/ yet: nothing, no error
    run.eval.mkdir()
    for name in ("scores-start.jsonl", "scores-dpo-hrlaif.jsonl", "scores-hrlaif.jsonl", "responses-start.jsonl",
                 "pairwise-rlaif.jsonl", "safety-start.jsonl", "scores-x.json", "scores-.jsonl.bak", "results.json"):
        (run.eval / name).write_text("")
    scores = run.all_eval_scores()
    assert list(scores) == ["dpo-hrlaif", "hrlaif", "start"]  # sorted by file name; other kinds and suffixes left out
    assert scores == {name: run.eval_scores(name) for name in scores}
    assert run.all_eval_responses() == {"start": run.eval_responses("start")}
    assert run.all_eval_pairwise() == {"rlaif": run.eval_pairwise("rlaif")}
    assert RunDir(tmp_path / "elsewhere").all_eval_pairwise() == {}
