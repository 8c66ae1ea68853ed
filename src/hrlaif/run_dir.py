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

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

MODES = ("rlaif", "hrlaif")
"""The two labeling arms a judge labels: plain RLAIF and HRLAIF's hybrid labels."""

ORACLE = "oracle"
"""The positive control's arm (compare.oracle): labels from the verifier alone, no judge."""

ALL_MODES = (*MODES, ORACLE)
"""Every labeling arm a run directory may hold (readers look for each; runs make MODES, plus
ORACLE where compare.oracle is on)."""

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
    def headline(self) -> Path:
        """The run's headline (hrlaif.evaluate.headline), written with the report."""
        return self.report / "headline.json"

    @property
    def power(self) -> Path:
        """The smallest effects the run's sizes can detect, written before anything is trained."""
        return self.root / "power.json"

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
        """The preference pairs of arm `mode` ('rlaif', 'hrlaif' or 'oracle')."""
        return self.stage(self.label_stage(mode)) / self.PAIRS_FILE

    @property
    def redteam(self) -> Path:
        return self.stage("redteam")

    @property
    def redteam_pairs(self) -> Path:
        return self.redteam / self.PAIRS_FILE

    @property
    def redteam_summary(self) -> Path:
        return self.redteam / self.SUMMARY_FILE

    def reward_model(self, mode: str) -> Path:
        return self.stage(self.rm_stage(mode)) / self.REWARD_MODEL_DIR

    def reward_summary(self, mode: str) -> Path:
        return self.stage(self.rm_stage(mode)) / self.SUMMARY_FILE

    def policy(self, stage: str) -> Path:
        """The trained policy of a 'ppo-MODE' or 'dpo-MODE' stage."""
        return self.stage(stage) / self.POLICY_DIR

    def training_summary(self, stage: str) -> Path:
        return self.stage(stage) / self.SUMMARY_FILE

    def ppo_metrics(self, mode: str) -> Path:
        return self.stage(self.ppo_stage(mode)) / self.PPO_METRICS_FILE

    def ppo_checkpoint_marker(self, mode: str) -> Path:
        """The fingerprint the PPO checkpoints in ppo-MODE/ were made under."""
        return self.stage(self.ppo_stage(mode)) / "checkpoint-fingerprint"

    @staticmethod
    def label_stage(mode: str) -> str:
        """The labeling stage of arm `mode`: 'label-MODE'."""
        return f"label-{mode}"

    @staticmethod
    def rm_stage(mode: str) -> str:
        """The reward-model stage of arm `mode`: 'rm-MODE'."""
        return f"rm-{mode}"

    @staticmethod
    def ppo_stage(mode: str) -> str:
        """The PPO stage of arm `mode`: 'ppo-MODE'."""
        return f"ppo-{mode}"

    @staticmethod
    def dpo_stage(mode: str) -> str:
        """The DPO stage of arm `mode`: 'dpo-MODE'."""
        return f"dpo-{mode}"

    @property
    def redteam_attacks(self) -> Path:
        """The attacks the start policy answered (red-team text: see redteam's CONTENT_WARNING.txt)."""
        return self.redteam / self.REDTEAM_ATTACKS_FILE

    @property
    def redteam_answers(self) -> Path:
        """The start policy's answers to the attacks, classified, with their rewrites."""
        return self.redteam / self.REDTEAM_ANSWERS_FILE

    # Names inside a stage folder. The paths above are built from them; code that is handed the
    # stage folder itself (the trainers, `run_redteam`) writes under the same names.
    PAIRS_FILE: ClassVar[str] = "pairs.jsonl"  # label-MODE/, redteam/
    SUMMARY_FILE: ClassVar[str] = "summary.json"  # rm-MODE/, ppo-MODE/, dpo-MODE/, redteam/
    REWARD_MODEL_DIR: ClassVar[str] = "model"  # rm-MODE/
    POLICY_DIR: ClassVar[str] = "policy"  # ppo-MODE/, dpo-MODE/
    PPO_METRICS_FILE: ClassVar[str] = "metrics.jsonl"  # ppo-MODE/
    REDTEAM_ATTACKS_FILE: ClassVar[str] = "attacks.jsonl"
    REDTEAM_ANSWERS_FILE: ClassVar[str] = "answers.jsonl"

    def stage_copy(self, stage: str) -> Path:
        """Where a stage folder copied in from another run directory is put together before it
        is renamed to its place (a study's labelers share the first one's samples)."""
        return self.root / f".{stage}.copy"

    # ------------------------------------------------------------------ evaluation
    @property
    def eval(self) -> Path:
        return self.stage("eval")

    @property
    def eval_results(self) -> Path:
        return self.eval / "results.json"

    def eval_responses(self, policy: str) -> Path:
        return self.eval / self.responses_name(policy)

    def eval_scores(self, policy: str) -> Path:
        return self.eval / self.scores_name(policy)

    def eval_pairwise(self, arm: str) -> Path:
        return self.eval / self.pairwise_name(arm)

    def eval_safety(self, policy: str) -> Path:
        return self.eval / self.safety_name(policy)

    def _by_name(self, name_of: Callable[[str], str]) -> dict[str, Path]:
        """name -> file for every eval/`name_of(NAME)` that exists, sorted by name."""
        head, tail = name_of("\0").split("\0")
        return {p.name[len(head) : len(p.name) - len(tail)]: p for p in sorted(self.eval.glob(name_of("*")))}

    def all_eval_responses(self) -> dict[str, Path]:
        return self._by_name(self.responses_name)

    def all_eval_scores(self) -> dict[str, Path]:
        return self._by_name(self.scores_name)

    def all_eval_pairwise(self) -> dict[str, Path]:
        return self._by_name(self.pairwise_name)

    # File names inside eval/. The paths above are built from them; the evaluation, which is
    # handed the eval folder itself, writes under the same names.
    @staticmethod
    def responses_name(policy: str) -> str:
        return f"responses-{policy}.jsonl"

    @staticmethod
    def scores_name(policy: str) -> str:
        return f"scores-{policy}.jsonl"

    @staticmethod
    def pairwise_name(arm: str) -> str:
        return f"pairwise-{arm}.jsonl"

    @staticmethod
    def safety_name(policy: str) -> str:
        return f"safety-{policy}.jsonl"

    # Best-of-n reranking (issue 29): K samples of held-out keyed prompts, then each arm's RM's pick.
    BEST_OF_N_SAMPLE_STAGE: ClassVar[str] = "best-of-n-sample"
    BEST_OF_N_STAGE: ClassVar[str] = "best-of-n"

    @property
    def best_of_n_samples(self) -> Path:
        """The start policy's K samples of each held-out keyed prompt (a stage of its own: a changed
        RM re-scores them without sampling again, and a study's labelers share them)."""
        return self.stage(self.BEST_OF_N_SAMPLE_STAGE) / "samples.jsonl"

    @property
    def best_of_n_results(self) -> Path:
        return self.stage(self.BEST_OF_N_STAGE) / "results.json"

    # Every RM on one shared held-out set of gold pairs (issue 25, item 10).
    RM_HELDOUT_STAGE: ClassVar[str] = "rm-heldout"

    @property
    def rm_heldout_results(self) -> Path:
        return self.stage(self.RM_HELDOUT_STAGE) / "results.json"

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
