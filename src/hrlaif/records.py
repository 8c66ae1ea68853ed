"""The shapes of the records that flow between stages.

Each is a flat JSON object so that `datasets.load_dataset("json", data_files=...)` reads a
stage's output directly, and pairs use the `prompt` / `chosen` / `rejected` columns (in
TRL's conversational form) that TRL's reward trainer expects.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

Category = Literal["math", "multiple_choice", "harmful", "open_ended"]
CATEGORIES: tuple[str, ...] = ("math", "multiple_choice", "harmful", "open_ended")
KEYED_CATEGORIES: tuple[str, ...] = ("math", "multiple_choice")


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant"]
    content: str

    @field_validator("content")
    @classmethod
    def _encodable(cls, text: str) -> str:
        # JSON allows "\ud800", but no tokenizer or UTF-8 file can take a lone surrogate.
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("holds a lone surrogate (an unpaired \\ud800-\\udfff escape)") from None
        return text


class Prompt(BaseModel):
    """A prompt to answer. Give `prompt` (plain text) or `messages` (chat); both become `messages`."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    messages: list[Message] = Field(default_factory=list)
    category: Category
    reference: str | None = None
    choices: list[str] | None = None
    # A dataset's other columns (subject, level, source...), carried untouched into the samples.
    # Left out of the JSON when empty, so files without extras read and write as before.
    extra: dict[str, Any] = Field(default_factory=dict, exclude_if=lambda value: not value)
    _source: str = PrivateAttr("")  # "file:line" it was read from, for error messages

    @model_validator(mode="before")
    @classmethod
    def _text_to_messages(cls, data: Any) -> Any:
        if isinstance(data, dict) and "prompt" in data:
            data = dict(data)
            text = data.pop("prompt")
            if "messages" in data:
                raise ValueError("give either 'prompt' or 'messages', not both")
            if not isinstance(text, str):
                raise ValueError("'prompt' must be a string (use 'messages' for a chat)")
            data["messages"] = [{"role": "user", "content": text}]
        return data

    @model_validator(mode="after")
    def _check(self) -> Prompt:
        if not self.messages or self.messages[-1].role != "user":
            raise ValueError("'messages' must be non-empty and end with a user turn")
        if not self.messages[-1].content.strip():
            raise ValueError("the prompt text is empty")
        if self.choices is not None and len(self.choices) > 26:  # a 27th option would be labelled '['
            raise ValueError(f"'choices' has {len(self.choices)} options; at most 26 (A to Z) can be labelled")
        if self.category == "multiple_choice":
            if not self.choices or len(self.choices) < 2:
                raise ValueError("a multiple_choice prompt needs 'choices' (two or more option texts)")
            if self.reference is None or not _is_option_letter(self.reference, len(self.choices)):
                raise ValueError("a multiple_choice prompt needs 'reference': the letter of the right option")
        if self.category == "math" and not (self.reference or "").strip():
            raise ValueError("a math prompt needs 'reference': the final answer")
        return self

    @property
    def text(self) -> str:
        """The last user turn, which is what judges and verifiers look at."""
        return self.messages[-1].content

    @property
    def where(self) -> str:
        """Where this prompt came from, for error messages."""
        return self._source or f"prompt '{self.id}'"


def _is_option_letter(value: str, count: int) -> bool:
    value = value.strip().upper()
    return len(value) == 1 and 0 <= ord(value) - ord("A") < count


class Sample(BaseModel):
    """One response of a policy to one prompt."""

    model_config = ConfigDict(extra="forbid")
    prompt_id: str
    messages: list[Message]
    category: Category
    reference: str | None = None
    choices: list[str] | None = None
    response: str
    sample_index: int = 0
    policy: str = ""
    # Cut off at max_new_tokens (no end-of-sequence token). Samples files written before this
    # field existed read as not truncated.
    truncated: bool = False
    extra: dict[str, Any] = Field(default_factory=dict, exclude_if=lambda value: not value)  # the prompt's, untouched

    @classmethod
    def of(cls, prompt: Prompt, response: str, sample_index: int, policy: str, truncated: bool = False) -> Sample:
        return cls(
            prompt_id=prompt.id,
            messages=prompt.messages,
            category=prompt.category,
            reference=prompt.reference,
            choices=prompt.choices,
            response=response,
            sample_index=sample_index,
            policy=policy,
            truncated=truncated,
            extra=prompt.extra,
        )

    @property
    def text(self) -> str:
        return self.messages[-1].content


class Verdict(BaseModel):
    """One answer of the AI judge (or a verifier) to one question, with what it cost."""

    model_config = ConfigDict(extra="forbid")
    task: str
    choice: str | None = None  # None: unscorable
    probs: dict[str, float] | None = None
    reason: str = ""
    judge: str = ""  # backend:model, or verifier name
    template_version: str = ""
    cached: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # A single-order question asked under two label orders: "agree" (both named this option) or
    # "soft" (they disagreed and the averaged probabilities picked it, which label.soft_labels may
    # refuse). None when not asked twice; left out of the JSON then, so records read as before.
    orders: Literal["agree", "soft"] | None = Field(None, exclude_if=lambda value: value is None)

    @property
    def scorable(self) -> bool:
        return self.choice is not None


class Provenance(BaseModel):
    """Who decided a pair and why, so labels can be audited."""

    model_config = ConfigDict(extra="forbid")
    mode: str  # rlaif | hrlaif | redteam
    route: str = ""  # the category route that applied
    step: str = ""  # the step that decided: preference, correctness, reasoning, refusal, rewrite
    reason: str = ""
    verdicts: list[Verdict] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)


class Pair(BaseModel):
    """A preference: `chosen` beats `rejected` for `prompt` (TRL conversational format)."""

    model_config = ConfigDict(extra="forbid")
    prompt_id: str
    category: Category
    prompt: list[Message]
    chosen: list[Message]
    rejected: list[Message]
    # The labeler's probability that `chosen` beats `rejected`: 1 for a decision by rule (a
    # verifier, a refusal, a rewrite) or by a judge without probabilities; what the soft RM loss
    # (reward.loss: soft) trains on.
    chosen_prob: float = Field(1.0, ge=0.5, le=1.0)
    # |chosen_prob - 0.5| * 2, for audits. Not called `margin`: TRL's RewardTrainer subtracts a
    # `margin` column inside its loss, which would train another RM than ours.
    confidence: float = Field(1.0, ge=0.0, le=1.0)
    reference: str | None = None  # kept so labels can be audited against the key
    choices: list[str] | None = None
    provenance: Provenance

    @model_validator(mode="before")
    @classmethod
    def _margin_is_the_old_name_of_confidence(cls, data: Any) -> Any:
        """Pairs files written before the rename carry `margin` (the same |p - 0.5| * 2)."""
        if isinstance(data, dict) and "margin" in data:
            data = dict(data)
            margin = data.pop("margin")
            if "confidence" in data:
                raise ValueError("give 'confidence' or its old name 'margin', not both")
            data["confidence"] = margin
            if "chosen_prob" not in data and isinstance(margin, (int, float)) and not isinstance(margin, bool):
                data["chosen_prob"] = 0.5 + margin / 2
        return data

    @field_validator("chosen", "rejected")
    @classmethod
    def _one_assistant_turn(cls, value: list[Message]) -> list[Message]:
        if len(value) != 1 or value[0].role != "assistant":
            raise ValueError("must be a single assistant message")
        return value

    @property
    def chosen_text(self) -> str:
        return self.chosen[0].content

    @property
    def rejected_text(self) -> str:
        return self.rejected[0].content


def assistant(text: str) -> list[Message]:
    return [Message(role="assistant", content=text)]


CONTENT_WARNING = (
    "Red-team material: this record holds attack prompts and/or harmful model output, written or "
    "kept on purpose to train and evaluate harmlessness. Do not publish or reuse it outside this run."
)


class RedteamPair(Pair):
    """A red-team pair (judge rewrite > harmful answer). Its `rejected` text is harmful by design,
    so the record carries a content warning wherever it is written."""

    content_warning: str = CONTENT_WARNING


HarmClass = Literal["harmful", "safe_refusal", "safe_helpful", "unscored"]


class RedteamRewrite(BaseModel):
    """The judge's harmless rewrite of a harmful answer, and whether it was kept (and why not)."""

    model_config = ConfigDict(extra="forbid")

    text: str | None
    kept: bool = False
    dropped_reason: str | None = None
    label: HarmClass | None = None  # the harm check of the rewrite (absent when dropped before it)
    decided_by: str | None = None
    verdict: Verdict | None = None


class RedteamAnswer(BaseModel):
    """One answer of the start policy to an attack, as classified (RUN/redteam/answers.jsonl)."""

    model_config = ConfigDict(extra="forbid")

    attack_id: str
    topic: str
    strategy: str
    source: str
    prompt: str
    response: str
    sample_index: int = 0
    label: HarmClass
    decided_by: str
    verdict: Verdict
    rewrite: RedteamRewrite | None = None
    content_warning: str = CONTENT_WARNING

