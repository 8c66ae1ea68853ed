"""The report page: sections as markdown and HTML tables, plots below them (embedded in the HTML)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from hrlaif.report.sections import Section

INTRO = (
    "Rates are shown as value [95% interval] (n = sample size); Wilson intervals for rates, "
    "paired bootstrap for differences. The judge named in each table produced its labels and verdicts."
)


def md_table(rows: list[list[str]]) -> str:
    head = "| " + " | ".join(rows[0]) + " |\n|" + "---|" * len(rows[0]) + "\n"
    return head + "".join("| " + " | ".join(r) + " |\n" for r in rows[1:])


def html_table(rows: list[list[str]]) -> str:
    head = "<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in rows[0]) + "</tr>"
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
    return f"<table>{head}{body}</table>"


def markdown(run_dir: Path, sections: list[Section], plots: list[Path]) -> str:
    """report.md: the plots are linked beside it by file name."""
    md = "# hrlaif run report\n\n" + f"Run directory: `{run_dir}`\n\n{INTRO}\n\n"
    md += "".join(f"## {title}\n\n{md_table(rows)}\n" for title, rows in sections)
    md += "".join(f"![{p.stem}]({p.name})\n\n" for p in plots)
    return md


def html_page(run_dir: Path, sections: list[Section], plots: list[Path]) -> str:
    """report.html: one self-contained page, the plots embedded."""
    images = "".join(
        f'<img alt="{p.stem}" src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}">' for p in plots
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>hrlaif run report</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;font-size:14px}"
        "th{background:#f1f3f5}img{max-width:100%;display:block;margin:1em 0}</style></head><body>"
        f"<h1>hrlaif run report</h1><p>Run directory: <code>{html.escape(str(run_dir))}</code></p><p>{html.escape(INTRO)}</p>"
        + "".join(f"<h2>{html.escape(t)}</h2>{html_table(r)}" for t, r in sections)
        + images + "</body></html>"
    )
