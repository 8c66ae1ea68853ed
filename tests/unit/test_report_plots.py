"""report/plots.py: a plot is written to a temporary file and renamed over the old one."""

from __future__ import annotations

import pytest

from hrlaif.report import plots


def test_a_plot_that_fails_half_way_leaves_the_previous_plot_and_no_temporary_file(tmp_path, monkeypatch):
    out = tmp_path / "report" / "categories.png"
    results = {"policies": {"start": {"satisfaction_by_category": {"math": {"rate": 0.5, "low": 0.3, "high": 0.7}}}}}
    assert plots.plot_categories(results, out) == out
    before = out.read_bytes()
    assert before.startswith(b"\x89PNG")

    def half_written(self, path, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"\x89PNG half")
        raise OSError("killed while drawing")

    monkeypatch.setattr("matplotlib.figure.Figure.savefig", half_written)
    with pytest.raises(OSError, match="killed while drawing"):
        plots.plot_categories(results, out)
    assert out.read_bytes() == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["categories.png"]
