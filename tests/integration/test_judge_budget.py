"""Judge budgets: stop cleanly before passing a limit, keep what was paid for, and let a rerun
with a larger budget make only the missing calls; cost comes from the price table."""

from __future__ import annotations

import logging

import pytest

from hrlaif.config import JudgeBudgetConfig, JudgeConfig, load_config
from hrlaif.errors import HrlaifError
from hrlaif.judge import build_judge
from hrlaif.judge.budget import BudgetExhausted, JudgeBudget, cost_usd
from hrlaif.judge.cache import CachedJudge
from hrlaif.judge.openai_backend import OpenAIJudge

from support.fake_openai import FAST, FakeOpenAIServer, expected_choice, judge_config, preference_questions


def cached_judge(url: str, db, **config) -> CachedJudge:
    judge = build_judge(judge_config(url, permute_labels=False, **config), cache_path=db)
    assert isinstance(judge, CachedJudge) and isinstance(judge.inner, OpenAIJudge)
    judge.inner.backoff_s, judge.inner.endpoint_cooldown_s = FAST["backoff_s"], FAST["endpoint_cooldown_s"]
    return judge


def test_max_calls_stops_cleanly_and_a_larger_budget_finishes(tmp_path) -> None:
    questions = preference_questions(20)
    db = tmp_path / "judge.sqlite"
    with FakeOpenAIServer(delay_s=0.01) as server:
        judge = cached_judge(server.base_url, db, concurrency=3, budget={"max_calls": 8})
        arrived: list[int] = []
        with pytest.raises(BudgetExhausted) as stop:
            judge.ask(questions, on_verdict=lambda i, v: arrived.append(i))
        assert server.count == 8, "never a request past the budget"
        assert len(arrived) == 8 and judge.stats.calls == 8
        message = str(stop.value)
        assert "judge.budget.max_calls=8" in message and "larger" in message and "carries on" in message
        assert isinstance(stop.value, HrlaifError)

        rerun = cached_judge(server.base_url, db, concurrency=3, budget={"max_calls": 50})
        verdicts = rerun.ask(questions)
        assert server.count == 20, "the rerun makes only the 12 missing calls"
    assert rerun.stats.calls == 12 and rerun.stats.cache_hits == 8
    assert [v.choice for v in verdicts] == [expected_choice(q) for q in questions]
    assert sum(v.cached for v in verdicts) == 8


def test_budget_counts_only_real_calls(tmp_path) -> None:
    db = tmp_path / "judge.sqlite"
    with FakeOpenAIServer() as server:
        cached_judge(server.base_url, db).ask(preference_questions(5))
        zero = cached_judge(server.base_url, db, budget={"max_calls": 0})
        assert [v.cached for v in zero.ask(preference_questions(5))] == [True] * 5, "cached answers are free"
        with pytest.raises(BudgetExhausted):
            zero.ask(preference_questions(6))
        assert server.count == 5


def test_retries_count_against_max_calls() -> None:
    with FakeOpenAIServer(faults={"500": 1.0}) as server:
        judge = OpenAIJudge(judge_config(server.base_url, max_retries=10, budget={"max_calls": 4}), **FAST)
        with pytest.raises(BudgetExhausted):
            judge.ask(preference_questions(1))
        assert server.count == 4


def test_cost_from_the_price_table() -> None:
    prices = {"fake-judge": (2.5, 10.0)}
    with FakeOpenAIServer() as server:
        judge = OpenAIJudge(judge_config(server.base_url, prices=prices), **FAST)
        judge.ask(preference_questions(10))
        sent = (server.prompt_tokens_sent, server.completion_tokens_sent)
    expected = (sent[0] * 2.5 + sent[1] * 10.0) / 1e6
    assert expected > 0 and judge.stats.cost_usd == pytest.approx(expected)
    assert judge.budget.cost == pytest.approx(expected)


def test_max_cost_stops_before_passing_it() -> None:
    prices = {"fake-judge": (1000.0, 1000.0)}  # about 0.04 USD a question
    with FakeOpenAIServer() as server:
        judge = OpenAIJudge(judge_config(server.base_url, prices=prices, concurrency=2, budget={"max_cost_usd": 0.5}), **FAST)
        with pytest.raises(BudgetExhausted, match="max_cost_usd"):
            judge.ask(preference_questions(40))
        assert 0 < server.count < 40
    assert judge.stats.cost_usd <= 0.5


def test_max_tokens_stops_before_passing_it() -> None:
    with FakeOpenAIServer() as server:
        judge = OpenAIJudge(judge_config(server.base_url, concurrency=4, budget={"max_tokens": 1500}), **FAST)
        with pytest.raises(BudgetExhausted, match="max_tokens"):
            judge.ask(preference_questions(40))
        assert 0 < server.count < 40
    assert judge.budget.tokens <= 1500 and judge.stats.prompt_tokens + judge.stats.completion_tokens <= 1500


def test_missing_price_is_said_not_guessed(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        budget = JudgeBudget(JudgeBudgetConfig(), {}, "unknown-model", 8)
    assert "no price for model 'unknown-model'" in caplog.text and "0" in caplog.text
    assert budget.settle(budget.reserve(400), 400, 100, 10) == 0.0
    with pytest.raises(HrlaifError, match="judge.prices has no price"):
        JudgeBudget(JudgeBudgetConfig(max_cost_usd=1.0), {}, "unknown-model", 8)


def test_reservations_count_requests_in_flight() -> None:
    budget = JudgeBudget(JudgeBudgetConfig(max_calls=2), {}, "m", 8)
    first, second = budget.reserve(10), budget.reserve(10)
    with pytest.raises(BudgetExhausted):
        budget.reserve(10)  # two in flight already fill the budget
    budget.settle(first, 10, 5, 1)
    budget.settle(second, 10, 5, 1)
    assert (budget.calls, budget.tokens) == (2, 12)
    assert cost_usd((1.0, 2.0), 1_000_000, 500_000) == pytest.approx(2.0)


def test_budget_and_prices_in_the_config(tmp_path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("judge:\n  budget:\n    max_calls: 100\n  prices:\n    gpt-x: [0.15, 0.6]\n")
    config = load_config(path, ["judge.budget.max_cost_usd=2.5"])
    assert config.judge.budget == JudgeBudgetConfig(max_calls=100, max_cost_usd=2.5)
    assert config.judge.prices == {"gpt-x": (0.15, 0.6)}
    assert JudgeConfig().budget == JudgeBudgetConfig() and JudgeConfig().prices == {}
    with pytest.raises(HrlaifError, match="judge.budget.max_call"):
        load_config(None, ["judge.budget.max_call=3"])
