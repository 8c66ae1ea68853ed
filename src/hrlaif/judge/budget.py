"""Spending limits of a paid judge: requests, tokens and dollars, checked before each request.

A budget is per run (per judge object). It is checked *before* a request is sent, counting the
requests already in flight, so a run never goes past it; when the next request would, the judge
stops sending, lets the requests in flight finish (their answers reach `on_verdict`, hence the
cache) and raises `BudgetExhausted`. With a cache, a later run with a larger budget re-asks
nothing already answered and carries on where this one stopped.

Tokens of a request are only known once it is answered, so the check before it uses an estimate:
the prompt's characters times the largest tokens-per-character ratio seen so far in this run
(starting at 1 token per 3 characters), plus the full completion allowance (`max_tokens`).
Cost comes from the price table `judge.prices` (USD per 1M prompt / completion tokens).
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass

from hrlaif.config import JudgeBudgetConfig
from hrlaif.errors import HrlaifError

log = logging.getLogger(__name__)

_FIRST_TOKENS_PER_CHAR = 1 / 3


class BudgetExhausted(HrlaifError):
    """The next judge request would pass a budget; answers received so far are kept."""

    def __init__(self, which: str, limit: float, spent: float) -> None:
        self.which, self.limit, self.spent = which, limit, spent
        super().__init__(
            f"judge budget exhausted: the next request would pass judge.budget.{which}={limit:g} "
            f"(spent {spent:g} so far, counting requests in flight). Answers already received are kept "
            f"(in the judge cache when one is used); a later run with a larger judge.budget.{which} "
            "carries on from there without asking them again."
        )


@dataclass
class Reservation:
    calls: int
    tokens: int
    cost: float


def price_of(prices: dict[str, tuple[float, float]], model: str) -> tuple[float, float] | None:
    """USD per 1M (prompt, completion) tokens of `model`, or None when the table does not list it."""
    price = prices.get(model)
    return (float(price[0]), float(price[1])) if price is not None else None


def cost_usd(price: tuple[float, float] | None, prompt_tokens: int, completion_tokens: int) -> float:
    if price is None:
        return 0.0
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000


class JudgeBudget:
    """Thread-safe accounting of what a judge has spent and has in flight."""

    def __init__(
        self, config: JudgeBudgetConfig, prices: dict[str, tuple[float, float]], model: str, max_completion_tokens: int
    ) -> None:
        self.config = config
        self.model = model
        self.max_completion_tokens = max_completion_tokens
        self.price = price_of(prices, model)
        if self.price is None:
            if config.max_cost_usd is not None:
                raise HrlaifError(
                    f"judge.budget.max_cost_usd is set but judge.prices has no price for model '{model}': "
                    f"add judge.prices.{model}=[usd_per_1M_prompt, usd_per_1M_completion]"
                )
            log.warning("judge.prices has no price for model '%s': its cost is reported as 0 (unknown)", model)
        self.calls = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cost = 0.0
        self._reserved = Reservation(0, 0, 0.0)
        self._tokens_per_char = _FIRST_TOKENS_PER_CHAR
        self._lock = threading.Lock()

    @property
    def priced(self) -> bool:
        return self.price is not None

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def reserve(self, prompt_chars: int, max_completion_tokens: int | None = None) -> Reservation:
        """Claim room for one request of `prompt_chars` characters whose completion may take
        `max_completion_tokens` (default: the verdict allowance), or raise BudgetExhausted."""
        completion = self.max_completion_tokens if max_completion_tokens is None else max_completion_tokens
        with self._lock:
            est_prompt = math.ceil(prompt_chars * self._tokens_per_char)
            est = Reservation(1, est_prompt + completion, cost_usd(self.price, est_prompt, completion))
            limits = self.config
            if limits.max_calls is not None and self.calls + self._reserved.calls + 1 > limits.max_calls:
                raise BudgetExhausted("max_calls", limits.max_calls, self.calls + self._reserved.calls)
            if limits.max_tokens is not None and self.tokens + self._reserved.tokens + est.tokens > limits.max_tokens:
                raise BudgetExhausted("max_tokens", limits.max_tokens, self.tokens + self._reserved.tokens)
            if limits.max_cost_usd is not None and self.cost + self._reserved.cost + est.cost > limits.max_cost_usd:
                raise BudgetExhausted("max_cost_usd", limits.max_cost_usd, round(self.cost + self._reserved.cost, 6))
            self._reserved = Reservation(
                self._reserved.calls + 1, self._reserved.tokens + est.tokens, self._reserved.cost + est.cost
            )
            return est

    def settle(self, reservation: Reservation, prompt_chars: int, prompt_tokens: int, completion_tokens: int) -> float:
        """Replace a reservation by what the request really spent; returns its cost in USD."""
        with self._lock:
            self._reserved = Reservation(
                self._reserved.calls - reservation.calls,
                self._reserved.tokens - reservation.tokens,
                self._reserved.cost - reservation.cost,
            )
            self.calls += 1
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens
            spent = cost_usd(self.price, prompt_tokens, completion_tokens)
            self.cost += spent
            if prompt_chars > 0 and prompt_tokens > 0:
                self._tokens_per_char = max(self._tokens_per_char, prompt_tokens / prompt_chars)
            return spent
