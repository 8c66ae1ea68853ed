"""What the report package prints on the console rather than into report.md: the judge exam's
table as the judge-check stage ends (rendering stays out of the judge package, which grades)."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def exam_table(result: dict[str, Any]) -> Table:
    """A short rich table of a `qualify_judge` result."""

    def pct(rate: dict | None) -> str:
        if not rate or rate.get("value") is None:
            return "-"
        return f"{100 * rate['value']:.0f}% [{100 * rate['low']:.0f}, {100 * rate['high']:.0f}]"

    table = Table(title=f"judge exam: {result['judge']} ({result['exam']} exam)", title_justify="left")
    for column in ("task", "n", "accuracy", "balanced acc.", "YES-rate / consistency", "calibrated", "qualified"):
        table.add_column(column)
    for task, r in result["tasks"].items():
        bias = r.get("yes_rate") or r.get("position_consistency")
        calibrated = r.get("calibrated", {}).get("rule", "-")
        mark = "[green]yes[/]" if r["qualified"] else "[red]no[/]"
        table.add_row(task, str(r["n"]), pct(r.get("accuracy")), pct(r.get("balanced_accuracy")), pct(bias), calibrated, mark)
    return table
