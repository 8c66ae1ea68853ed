"""The text of one table cell: a rate, a difference, a mean or an exam figure with its interval and n."""

from __future__ import annotations

from pathlib import Path

from hrlaif.run_dir import RunDir


def rate(r: dict | None) -> str:
    if not r or r.get("rate") is None:
        return "n/a (n=0)"
    return f"{100 * r['rate']:.1f}% [{100 * r['low']:.1f}, {100 * r['high']:.1f}] (n={r['n']})"


def diff(d: dict | None) -> str:
    if not d or d.get("diff") is None:
        return "n/a"
    return f"{100 * d['diff']:+.1f} pts [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}] (n={d['n']})"


def accuracy(r: dict | None) -> str:
    """An accuracy over all answers with its four counts beside it (results before the counts
    were recorded show the rate alone)."""
    text = rate(r)
    counts = (r or {}).get("counts")
    if counts:
        text += (f"; correct {counts['correct']} / wrong {counts['wrong']} / unknown {counts['unknown']}"
                 f" / cut off {counts['cut_off']}")
    return text


def decided(r: dict | None) -> str:
    """The accuracy among decided answers, correct / (correct + wrong)."""
    if not r or "decided" not in r:
        return "not recorded"
    return rate(r["decided"])


def mean(m: dict | None) -> str:
    if not m or m.get("mean") is None:
        return "n/a (n=0)"
    return f"{m['mean']:.3f} [{m['low']:.3f}, {m['high']:.3f}] (n={m['n']})"


def interval(r: dict | None) -> str:
    """An exam figure ({"value", "low", "high", "n"})."""
    if not r or r.get("value") is None:
        return "n/a"
    return f"{100 * r['value']:.1f}% [{100 * r['low']:.1f}, {100 * r['high']:.1f}] (n={r['n']})"


def points(value: float | None, unit: str) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}{unit}"


def flat(counts: dict, prefix: str = "") -> dict:
    """{"judge": {"preference": {"scorable": 8}}} -> {"judge.preference.scorable": 8}: a table cell, not a dict's repr."""
    out = {}
    for key, value in counts.items():
        if isinstance(value, dict):
            out |= flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def report_name(run_dir: str | Path) -> str:
    """A seed's or labeler's own report, named from the root it sits in: 'seed-1/report/report.html'."""
    run = RunDir(run_dir)
    return f"{run.root.name}/{run.report_html.relative_to(run.root)}"


class Folded(str):
    """A cell whose text is a short summary, with the full detail folded beneath it (HTML
    <details>): the few counts that matter stay readable, the rest one click away."""

    detail: str

    def __new__(cls, summary: str, detail: str) -> Folded:
        cell = super().__new__(cls, summary)
        cell.detail = detail
        return cell
