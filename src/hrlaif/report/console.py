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
    # "if calibrated": whether the exam's fitted threshold would qualify the judge. A diagnostic only:
    # the pipeline uses the raw verdicts, and the exam grades those (issue 25 item 1).
    for column in ("task", "n", "accuracy", "balanced acc.", "YES-rate / consistency", "if calibrated", "qualified"):
        table.add_column(column)
    for task, r in result["tasks"].items():
        bias = r.get("yes_rate") or r.get("position_consistency")
        would = (r.get("if_calibrated") or {}).get("qualified")
        calibrated = "-" if would is None else "would qualify" if would else "would not"
        mark = "[green]yes[/]" if r["qualified"] else "[red]no[/]"
        table.add_row(task, str(r["n"]), pct(r.get("accuracy")), pct(r.get("balanced_accuracy")), pct(bias), calibrated, mark)
    return table
