"""Every path of a run directory, spelled once.

A run directory holds one folder per stage (its outputs plus `manifest.json`), the run's
`config.yaml` and judge cache, and what is derived from the stages (audit, report, export,
human ratings). Stages, report, export, evaluation, audit and human evaluation all find their
files here, so renaming a file is a one-line change and a reader can never look for a file
under a name its writer does not use.

This module does I/O layout only: it builds paths and lists the files that exist; reading and
writing them is the callers' business.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MODES = ("rlaif", "hrlaif")
"""The two labeling arms: plain RLAIF and HRLAIF's hybrid labels."""

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class RunDir:
    """The layout of one run directory (`root`); see the module docstring."""

    root: Path

    def __init__(self, root: str | Path) -> None:
        object.__setattr__(self, "root", Path(root))

    def __fspath__(self) -> str:
        return str(self.root)

    # ------------------------------------------------------------------ run-level files
    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def judge_cache(self) -> Path:
        """The judge cache a run uses unless `judge.cache_file` names another."""
        return self.root / "judge_cache.sqlite"

    @property
    def seeds_summary(self) -> Path:
        return self.root / "seeds.json"

    @property
    def study_summary(self) -> Path:
        return self.root / "study.json"

    @property
    def study_log(self) -> Path:
        """Where a labeler of a study run in its own process writes its output."""
        return self.root / "study.log"

    def seed_run(self, seed: int) -> RunDir:
        """The run directory of one seed of `hrlaif compare --seeds N`."""
        return RunDir(self.root / f"seed-{seed}")

    def labeler_run(self, name: str) -> RunDir:
        """The run directory of one labeler of `hrlaif study`."""
        return RunDir(self.root / name)

    # ------------------------------------------------------------------ stage folders
    def stage(self, name: str) -> Path:
        """The folder of stage `name` (e.g. 'sample', 'label-hrlaif', 'eval')."""
        return self.root / name

    def manifest(self, stage: str) -> Path:
        return self.stage(stage) / MANIFEST

    @staticmethod
    def exam_stage(role: str) -> str:
        """The judge exam's stage for the labeling judge ('label') or the grading judge ('eval')."""
        return "judge-check" if role == "label" else "judge-check-eval"

    def exam(self, role: str) -> Path:
        return self.stage(self.exam_stage(role)) / "result.json"

    @property
    def samples(self) -> Path:
        return self.stage("sample") / "samples.jsonl"

    def labels(self, mode: str) -> Path:
        """The preference pairs of arm `mode` ('rlaif' or 'hrlaif')."""
        return self.stage(f"label-{mode}") / "pairs.jsonl"

    @property
    def redteam(self) -> Path:
        return self.stage("redteam")

    @property
    def redteam_pairs(self) -> Path:
        return self.redteam / "pairs.jsonl"

    @property
    def redteam_summary(self) -> Path:
        return self.redteam / "summary.json"

    def reward_model(self, mode: str) -> Path:
        return self.stage(f"rm-{mode}") / "model"

    def reward_summary(self, mode: str) -> Path:
        return self.stage(f"rm-{mode}") / "summary.json"

    def policy(self, stage: str) -> Path:
        """The trained policy of a 'ppo-MODE' or 'dpo-MODE' stage."""
        return self.stage(stage) / "policy"

    def training_summary(self, stage: str) -> Path:
        return self.stage(stage) / "summary.json"

    def ppo_metrics(self, mode: str) -> Path:
        return self.stage(f"ppo-{mode}") / "metrics.jsonl"

    def ppo_checkpoint_marker(self, mode: str) -> Path:
        """The fingerprint the PPO checkpoints in ppo-MODE/ were made under."""
        return self.stage(f"ppo-{mode}") / "checkpoint-fingerprint"

    # ------------------------------------------------------------------ evaluation
    @property
    def eval(self) -> Path:
        return self.stage("eval")

    @property
    def eval_results(self) -> Path:
        return self.eval / "results.json"

    def eval_responses(self, policy: str) -> Path:
        return self.eval / f"responses-{policy}.jsonl"

    def eval_scores(self, policy: str) -> Path:
        return self.eval / f"scores-{policy}.jsonl"

    def eval_pairwise(self, arm: str) -> Path:
        return self.eval / f"pairwise-{arm}.jsonl"

    def eval_safety(self, policy: str) -> Path:
        return self.eval / f"safety-{policy}.jsonl"

    def _by_name(self, prefix: str) -> dict[str, Path]:
        """name -> file for every eval/PREFIX-NAME.jsonl that exists, sorted by name."""
        return {p.name[len(prefix) + 1 : -len(".jsonl")]: p for p in sorted(self.eval.glob(f"{prefix}-*.jsonl"))}

    def all_eval_responses(self) -> dict[str, Path]:
        return self._by_name("responses")

    def all_eval_scores(self) -> dict[str, Path]:
        return self._by_name("scores")

    def all_eval_pairwise(self) -> dict[str, Path]:
        return self._by_name("pairwise")

    # ------------------------------------------------------------------ derived from the stages
    @property
    def audit(self) -> Path:
        return self.root / "audit" / "audit.json"

    @property
    def report(self) -> Path:
        """The folder of report.md, report.html and the plots."""
        return self.root / "report"

    def export(self, fmt: str) -> Path:
        """Where `hrlaif export --format FMT` writes unless told otherwise."""
        return self.root / "export" / fmt

    @property
    def human(self) -> Path:
        return self.root / "human"

    @property
    def human_ratings(self) -> Path:
        return self.human / "ratings.sqlite"

    @property
    def human_results(self) -> Path:
        return self.human / "results.json"

    @property
    def report_md(self) -> Path:
        return self.report / "report.md"

    @property
    def report_html(self) -> Path:
        return self.report / "report.html"
