"""A judge's role in a run: the labeling judge ('label') or the grading judge ('eval').

One object per role says which config section is that judge (the grading judge falls back to
the labeling judge when `evaluate.judge` is unset), under which key to name it in messages, and
in which stage its exam lies, so no function takes a `which="label"|"eval"` string any more.
"""

from __future__ import annotations

from dataclasses import dataclass

from hrlaif.config import JudgeConfig, RunConfig
from hrlaif.run_dir import RunDir


@dataclass(frozen=True)
class JudgeRole:
    name: str  # "label" | "eval": the exam's role in RunDir.exam_stage and results
    key: str  # the config key of its section, for messages
    title: str  # how the console introduces the judge when it is built

    def config(self, run: RunConfig) -> JudgeConfig:
        """This role's judge settings: `evaluate.judge` grades when set, else the labeling judge."""
        return run.evaluate.judge if self.name == "eval" and run.evaluate.judge is not None else run.judge

    def separate(self, run: RunConfig) -> bool:
        """Whether this role has a judge of its own (not the labeling judge)."""
        return self.name == "label" or run.evaluate.judge is not None

    @property
    def exam_stage(self) -> str:
        return RunDir.exam_stage(self.name)

    def fingerprint_view(self, run: RunConfig) -> dict:
        """The judge as the fingerprints of the stages it answers in see it: which judge it is."""
        j = self.config(run)
        return {"backend": j.backend, "model": j.model, "simulated": j.simulated.model_dump(), "seed": j.seed}


LABEL = JudgeRole("label", "judge", "judge")
EVAL = JudgeRole("eval", "evaluate.judge", "evaluation judge")
