"""The intervals every reported rate carries: checked against values worked out by hand."""

from __future__ import annotations

import pytest

from hrlaif.stats import bootstrap_mean, clopper_pearson, paired_bootstrap_difference, wilson


def test_wilson_matches_the_closed_form() -> None:
    half = wilson(5, 10)  # p=0.5, n=10, z=1.96: centre 0.5, half-width 0.2634
    assert half.rate == 0.5 and half.n == 10
    assert half.low == pytest.approx(0.2366, abs=1e-4) and half.high == pytest.approx(0.7634, abs=1e-4)
    none = wilson(0, 10)  # the normal interval would be [0, 0]; Wilson's is not
    assert none.low == pytest.approx(0.0, abs=1e-12) and none.high == pytest.approx(0.2775, abs=1e-4)
    all_ = wilson(10, 10)
    assert all_.high == 1.0 and all_.low == pytest.approx(0.7225, abs=1e-4)


def test_clopper_pearson_matches_published_values_and_its_closed_forms() -> None:
    r = clopper_pearson(3, 10)
    assert (r.low, r.high) == (pytest.approx(0.0667, abs=1e-4), pytest.approx(0.6525, abs=1e-4))  # the standard table
    assert clopper_pearson(5, 5).low == pytest.approx(0.025 ** (1 / 5)) and clopper_pearson(5, 5).high == 1.0
    assert clopper_pearson(0, 5).high == pytest.approx(1 - 0.025 ** (1 / 5)) and clopper_pearson(0, 5).low == 0.0
    assert clopper_pearson(0, 0).rate is None
    assert clopper_pearson(9, 10).low < wilson(9, 10).low, "exact is the wider (conservative) one"


def test_wilson_narrows_with_n_and_widens_with_confidence() -> None:
    small, large = wilson(3, 10), wilson(300, 1000)
    assert large.high - large.low < small.high - small.low
    assert wilson(3, 10, confidence=0.99).low < small.low


def test_rates_without_data_say_so() -> None:
    empty = wilson(0, 0)
    assert empty.rate is None and empty.low is None and empty.text() == "n/a (n=0)"
    assert wilson(1, 4).text() == "25.0% [4.6, 69.9] (n=4)"


def test_paired_difference_is_paired_and_bounded() -> None:
    same = paired_bootstrap_difference([1, 0, 1, 0], [1, 0, 1, 0])
    assert (same.diff, same.low, same.high, same.n) == (0.0, 0.0, 0.0, 4)
    better = paired_bootstrap_difference([1.0] * 20, [0.0] * 20)
    assert better.diff == 1.0 and better.low == 1.0 and better.high == 1.0
    mixed = paired_bootstrap_difference([1, 1, 0, 1, 0, 1, 1, 0], [0, 1, 0, 0, 0, 1, 0, 0])
    assert mixed.diff == pytest.approx(3 / 8) and mixed.low <= mixed.diff <= mixed.high
    assert mixed == paired_bootstrap_difference([1, 1, 0, 1, 0, 1, 1, 0], [0, 1, 0, 0, 0, 1, 0, 0]), "seeded: the same interval every run"
    assert mixed.text().startswith("+37.5 pts [")


def test_paired_difference_refuses_unpaired_input_and_handles_none() -> None:
    with pytest.raises(ValueError, match="same length"):
        paired_bootstrap_difference([1, 0], [1])
    empty = paired_bootstrap_difference([], [])
    assert empty.diff is None and empty.n == 0 and empty.text() == "n/a"


def test_bootstrap_mean_brackets_the_mean() -> None:
    m = bootstrap_mean([0.2, 0.4, 0.6, 0.8, 1.0])
    assert m.mean == pytest.approx(0.6) and m.low < 0.6 < m.high and m.n == 5
    assert bootstrap_mean([]).text() == "n/a (n=0)"
