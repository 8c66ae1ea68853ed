"""The AI labeler's interface: every backend answers multiple-choice questions about responses.

All of HRLAIF's judge work (which response is better, is the reasoning sound, is this a safe
refusal, is this answer acceptable) reduces to a question with a fixed, small set of options.
Red teaming also needs the judge model to *write*: attack prompts, and harmless rewrites of
harmful answers. `Judge.write` takes rendered chats and returns text (None when it failed).
Backends differ only in how they pick an option: log-probabilities of the option tokens
(local), a strictly parsed completion (OpenAI-compatible servers), or documented biases
(simulated). Keeping the question structured (task + fields) rather than pre-rendered lets
the simulated judge reason about it and lets the cache key on exactly what was asked.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from hrlaif.errors import HrlaifError
from hrlaif.records import Verdict

if TYPE_CHECKING:
    from hrlaif.judge.templates import Templates

OnVerdict = Callable[[int, Verdict], None]
"""Called as `on_verdict(index, verdict)` the moment the verdict of `questions[index]` is ready."""


class Question(BaseModel):
    """One thing to ask the judge. `fields` fill the task's template; `context` is never shown
    to a language-model judge (it carries e.g. the reference answer for the simulated judge)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    task: str
    fields: dict[str, str]
    context: dict[str, Any] = Field(default_factory=dict)
    labels: tuple[str, ...] | None = None
    """How the template's options are shown, in the template's option order (e.g. ("K", "D") for
    YES/NO); None shows the options themselves. Verdicts always name the template's options."""


class JudgeStats(BaseModel):
    """What a judge has spent, for manifests and budgets."""

    calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    unscorable: int = 0
    retries: int = 0
    cost_usd: float = 0.0
    failed_writes: int = 0


class Judge(ABC):
    """Answers questions; one Verdict per Question, in order. Never raises for one bad item:
    an item that cannot be scored comes back with `choice=None` and the reason."""

    name: str = "judge"

    templates: Templates
    """The templates this judge renders its questions with and reads its options from: the set it
    was built with (`build_judge`: from `judge.templates_dir`), the built-in set when none was given."""

    def __init__(self, templates: Templates | None = None) -> None:
        if templates is None:
            from hrlaif.judge.templates import BUILTIN_TEMPLATES  # it imports Question from here

            templates = BUILTIN_TEMPLATES
        self.stats = JudgeStats()
        self.templates = templates

    # -- hooks a backend may implement ------------------------------------------------------

    cache_params: dict[str, Any] | None = None
    """What, beside its name and the question, decides this judge's answers (sampling settings,
    constrained decoding, reasoning mode): part of the cache key. A backend sets it (or makes it
    a property); None: the name (and `seed`, if the judge has one) is enough."""

    seed: int | None = None
    """The seed of a judge whose answers are drawn at random (the simulated judge); None otherwise."""

    @abstractmethod
    def ask(self, questions: list[Question], desc: str = "judging", on_verdict: OnVerdict | None = None) -> list[Verdict]:
        """Answer every question; `desc` labels the progress bar. `on_verdict(index, verdict)`, when
        given, is called as each verdict is ready (in any order), so a caller can persist answers
        before the whole batch ends and lose none if the run dies half-way."""

    def write(self, chats: list[list[dict]], *, max_tokens: int, desc: str = "writing") -> list[str | None]:
        """One text per chat, in order: what the judge model writes as the assistant's turn.
        Never raises for one bad item: a failed or empty write comes back as None (counted in
        `stats.failed_writes`). Backends that cannot write raise HrlaifError."""
        raise HrlaifError(f"the judge '{self.name}' cannot write text (red teaming needs a local, openai or simulated judge)")

    def close(self) -> None:
        """Release clients, models and caches."""


class WrappedJudge(Judge):
    """A judge that changes how another one is asked or how its verdicts are decided (permuted
    labels, calibration): it shares the inner judge's name and usage counts, and writes and
    closes through it. Subclasses implement `ask`."""

    def __init__(self, inner: Judge) -> None:
        # Judge.__init__ is not called: `stats` is a view over the inner judge's stats.
        self.inner = inner
        self.name = inner.name

    @property
    def stats(self) -> JudgeStats:  # type: ignore[override]
        return self.inner.stats

    @stats.setter
    def stats(self, value: JudgeStats) -> None:
        self.inner.stats = value

    @property
    def templates(self) -> Templates:  # type: ignore[override]
        return self.inner.templates

    def write(self, chats: list[list[dict]], *, max_tokens: int, desc: str = "writing") -> list[str | None]:
        return self.inner.write(chats, max_tokens=max_tokens, desc=desc)

    def close(self) -> None:
        self.inner.close()
