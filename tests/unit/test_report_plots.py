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


def test_ppo_plot_names_only_arms_with_a_line_and_steps_are_whole_numbers(tmp_path, monkeypatch):
    """An arm without PPO (DPO, or the oracle trained no policy) has no legend entry; steps 1 and 2 get no 1.5 tick."""
    import json

    from hrlaif.run_dir import RunDir

    run = RunDir(tmp_path / "run")
    for mode in ("rlaif", "hrlaif"):
        path = run.ppo_metrics(mode)
        path.parent.mkdir(parents=True)
        path.write_text("".join(json.dumps({"charts/step": s, "objective/score_mean": 0.1 * s, "objective/kl": 0.01 * s}) + "\n" for s in (1, 2)))
    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, out: figures.append(fig) or out)
    assert plots.plot_ppo(run, ["rlaif", "hrlaif", "oracle"], tmp_path / "ppo.png") is not None
    for ax in figures[0].axes:
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["rlaif", "hrlaif"]
        figures[0].canvas.draw()
        ticks = [t for t in ax.get_xticks() if 1 <= t <= 2]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_best_of_n_curve_is_drawn_and_sits_under_its_table(tmp_path):
    import json

    from hrlaif.report.render import html_page, markdown
    from hrlaif.run_dir import RunDir

    run = RunDir(tmp_path / "run")
    pick = lambda rate: {"accuracy": {"rate": rate, "low": 0.0, "high": 1.0, "n": 8}}  # noqa: E731
    curve = [{"k": k, "random": pick(0.4), "oracle": pick(0.4 + 0.1 * k), "longest": pick(0.4 - 0.05 * k), "rms": {"rlaif": pick(0.4)}}
             for k in (1, 2, 3, 4)]
    run.best_of_n_results.parent.mkdir(parents=True)
    run.best_of_n_results.write_text(json.dumps({"k": 4, "prompts": 8, "curve": curve}))
    out = plots.plot_best_of_n(run, tmp_path / "best_of_n.png")
    assert out is not None and out.read_bytes().startswith(b"\x89PNG")
    sections = [("Read first", [["a"], ["b"]]), ("Best-of-n curve over k = 1..4", [["k"], ["1"]]), ("Judge exam", [["t"], ["x"]])]
    md = markdown(tmp_path, sections, [out])
    assert md.index("## Best-of-n curve") < md.index("![best_of_n](best_of_n.png)") < md.index("## Judge exam")
    page = html_page(tmp_path, sections, [out])
    assert page.index("<h2>Best-of-n curve") < page.index('alt="best_of_n"') < page.index("<h2>Judge exam")
