"""The AI labeler: one interface (`Judge.ask`), three backends, chosen by `JudgeConfig.backend`."""

from __future__ import annotations

from hrlaif.config import JudgeConfig
from hrlaif.judge.base import Judge, JudgeStats, Question

__all__ = ["Judge", "JudgeStats", "Question", "build_judge"]


def build_judge(config: JudgeConfig, seed: int = 0) -> Judge:
    """The judge a config asks for; imports stay lazy so `simulated` needs no model."""
    if config.backend == "simulated":
        from hrlaif.judge.simulated import SimulatedJudge

        return SimulatedJudge(config.simulated, seed=config.seed if config.seed else seed)
    if config.backend == "local":
        from hrlaif.judge.local import LocalJudge

        return LocalJudge(config.model, batch_size=config.batch_size)
    from hrlaif.judge.openai_backend import OpenAIJudge

    return OpenAIJudge(config)
