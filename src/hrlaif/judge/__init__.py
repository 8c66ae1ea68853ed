"""The AI labeler: one interface (`Judge.ask`), three backends, chosen by `JudgeConfig.backend`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from hrlaif.config import JudgeConfig
from hrlaif.judge.base import Judge, JudgeStats, OnVerdict, Question
from hrlaif.run_dir import RunDir

if TYPE_CHECKING:
    from hrlaif.judge.templates import Templates

__all__ = ["Judge", "JudgeStats", "OnVerdict", "Question", "build_judge", "judge_cache_path", "shared_cache"]

log = logging.getLogger(__name__)


def build_judge(config: JudgeConfig, seed: int = 0, cache_path: str | Path | None = None) -> Judge:
    """The judge a config asks for; imports stay lazy so `simulated` needs no model.

    With `cache_path`, the backend sits behind a persistent CachedJudge: answers already in the
    cache are free, and `judge.budget` (enforced by the 'openai' backend before each request)
    only counts the questions that really go to the server. With `judge.permute_labels`, a
    language-model judge answers single-order questions under two label orders (PermutedJudge,
    above the cache, so each order's answer is cached). The judge renders with the templates of
    `judge.templates_dir` (the built-ins where unset), its own: no other judge sees them.
    """
    from hrlaif.judge.templates import load_templates

    judge = _backend(config, seed, load_templates(config.templates_dir))
    if cache_path is not None:
        from hrlaif.judge.cache import CachedJudge

        judge = CachedJudge(judge, cache_path, retry_unscorable=config.retry_unscorable)
    if config.permute_labels and config.backend != "simulated":  # the simulated judge reads meaning, never echoes text
        from hrlaif.judge.permute import PermutedJudge

        judge = PermutedJudge(judge)
    return judge


def judge_cache_path(config: JudgeConfig, run_dir: str | Path) -> Path | None:
    """Where the judge's answers are cached: `judge.cache_file`, else RUN/judge_cache.sqlite; None with `judge.cache: false`."""
    if not config.cache:
        return None
    return Path(config.cache_file) if config.cache_file is not None else RunDir(run_dir).judge_cache


def shared_cache(config: JudgeConfig, root: str | Path) -> JudgeConfig:
    """The judge of one of several runs under `root` (seeds, labelers of a study): its cache is
    ROOT/judge_cache.sqlite unless `cache_file` names one, so a judge that several runs use is
    examined and asked once."""
    return config if config.cache_file is not None else config.model_copy(update={"cache_file": RunDir(root).judge_cache})


def _backend(config: JudgeConfig, seed: int, templates: Templates) -> Judge:
    if config.backend != "openai" and any(v is not None for v in config.budget.model_dump().values()):
        log.warning("judge.budget applies to the 'openai' backend only; the '%s' judge ignores it", config.backend)
    if config.backend == "simulated":
        from hrlaif.judge.simulated import SimulatedJudge

        return SimulatedJudge(config.simulated, seed=config.seed if config.seed else seed, templates=templates)
    if config.backend == "local":
        from hrlaif.judge.local import LocalJudge

        return LocalJudge(config.model, batch_size=config.batch_size, templates=templates)
    from hrlaif.judge.openai_backend import OpenAIJudge

    return OpenAIJudge(config, templates=templates)
