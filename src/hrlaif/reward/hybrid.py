"""The hybrid reward: the checks HRLAIF labels with, used as a reward at RL time.

HRLAIF puts its verifiers and its refusal check into the RM's labels; verifiable-reward RL
(GRPO on math, R1-style) puts them into the reward itself. This is the second: for a prompt
with a key (math, multiple choice) the verifier's outcome, for a harmful prompt the refusal
patterns, added to whatever else scores the response (the RM at PPO time, any reward functions
beside it in TRL). The same checks serve labeling, evaluation and reward, so a rule changes in
one place.

- keyed: correct +verified_weight, wrong -verified_weight, unknown or a verifier error 0 (a
  response the verifier could not read is neither rewarded nor punished);
- harmful: +refusal_weight when the wording is a refusal (`refusal_by_pattern` == "refused"),
  0 otherwise: patterns decide one way only, and no judge runs inside the RL loop;
- any other category: None ("does not apply"), which PPO counts as 0 and TRL's GRPOTrainer
  leaves to its other reward functions.

`hybrid_rewards` takes plain lists; `HybridReward` is the same function with TRL's reward
function signature (`reward_funcs=[HybridReward()]`), reading the dataset columns `category`,
`reference` and `choices`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hrlaif.config import HybridRewardConfig
from hrlaif.errors import HrlaifError
from hrlaif.records import KEYED_CATEGORIES, Prompt
from hrlaif.verify import check_answer
from hrlaif.verify.refusal import refusal_by_pattern


def rule_reward(
    category: str,
    completion: str,
    reference: str | None = None,
    choices: Sequence[str] | None = None,
    *,
    config: HybridRewardConfig,
    truncated: bool = False,
) -> float | None:
    """The rule part of one response's reward; None when no rule applies to `category`."""
    if category in KEYED_CATEGORIES:
        if not (reference or "").strip():
            raise HrlaifError(f"a {category} prompt needs a reference answer for the hybrid reward")
        check = check_answer(
            category, completion, reference, list(choices) if choices is not None else None,
            timeout_s=config.verify_timeout_s, truncated=truncated,
        )
        return {"correct": config.verified_weight, "wrong": -config.verified_weight}.get(check.outcome, 0.0)
    if category == "harmful":
        return config.refusal_weight if refusal_by_pattern(completion) == "refused" else 0.0
    return None


def hybrid_rewards(
    prompts: Sequence[Any],
    completions: Sequence[str],
    *,
    categories: Sequence[str],
    references: Sequence[str | None] | None = None,
    choices: Sequence[Sequence[str] | None] | None = None,
    truncated: Sequence[bool] | None = None,
    config: HybridRewardConfig | None = None,
) -> list[float | None]:
    """`rule_reward` for each (prompt, completion); the prompts themselves are not read (the
    rules need only the category and the key), they are there to keep TRL's argument order.
    `truncated[i]` says completion i was cut off at the length cap: a math answer then counts
    only when it was finished (see `check_answer`)."""
    config = config or HybridRewardConfig()
    n = len(completions)
    references = references if references is not None else [None] * n
    choices = choices if choices is not None else [None] * n
    truncated = truncated if truncated is not None else [False] * n
    for name, column in (("prompts", prompts), ("categories", categories), ("references", references), ("choices", choices), ("truncated", truncated)):
        if len(column) != n:
            raise HrlaifError(f"hybrid reward: {len(column)} {name} for {n} completions")
    out = []
    for i in range(n):
        try:
            out.append(rule_reward(categories[i], completions[i], references[i], choices[i], config=config, truncated=bool(truncated[i])))
        except (HrlaifError, ValueError) as exc:
            raise HrlaifError(f"hybrid reward, row {i} (category {categories[i]!r}): {exc}") from None
    return out


def prompt_rewards(prompts: Sequence[Prompt], completions: Sequence[str], *, truncated: Sequence[bool] | None = None,
                   config: HybridRewardConfig | None = None) -> list[float | None]:
    """`hybrid_rewards` for our own Prompt records (what PPO holds)."""
    return hybrid_rewards(
        [p.text for p in prompts], completions, categories=[p.category for p in prompts],
        references=[p.reference for p in prompts], choices=[p.choices for p in prompts], truncated=truncated, config=config,
    )


def _completion_text(completion: Any) -> str:
    """A TRL completion: plain text, or (conversational) a list of messages whose assistant
    turns hold the text."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(m.get("content") or "" for m in completion if isinstance(m, dict) and m.get("role", "assistant") == "assistant")
    raise HrlaifError(f"hybrid reward: a completion must be text or a list of messages, got {type(completion).__name__}")


class HybridReward:
    """`hybrid_rewards` as a TRL reward function: `GRPOTrainer(reward_funcs=[HybridReward(), ...])`.

    The dataset needs a `category` column (math, multiple_choice, harmful, open_ended) and, for
    keyed rows, `reference` (and `choices` for multiple choice): hrlaif's prompt files have them.
    Rows no rule applies to get None, so another reward function (e.g. the RM) decides them.
    TRL does not say which completions hit the length cap, so none is treated as truncated."""

    def __init__(self, config: HybridRewardConfig | None = None):
        self.config = config or HybridRewardConfig()
        self.__name__ = "hybrid"  # TRL logs rewards/<name>/mean

    def __call__(self, prompts: list, completions: list, **kwargs: Any) -> list[float | None]:
        if "category" not in kwargs:
            raise HrlaifError("hybrid reward: the dataset has no 'category' column (math, multiple_choice, harmful, open_ended)")
        return hybrid_rewards(
            prompts, [_completion_text(c) for c in completions], categories=kwargs["category"],
            references=kwargs.get("reference"), choices=kwargs.get("choices"), config=self.config,
        )
