"""The report page: sections as markdown and HTML tables, each plot beside the table it illustrates
(embedded in the HTML). The page fits any screen: a viewport meta tag, and each wide table
scrolls inside its own box instead of widening the page."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from hrlaif.report.cells import Folded
from hrlaif.report.sections import Section

INTRO = (
    "Rates are shown as value [95% interval] (n = sample size); Wilson intervals for rates, "
    "paired bootstrap for differences."
)
JUDGES = "Who decided the figures (the tables use these short names):"

# A plot (by file stem) goes after the last section whose title starts with this; others go last.
PLACE = {"best_of_n": "Best-of-n curve", "ppo": "PPO (", "gold_monitor": "PPO (", "win_tie_loss": "Against the start policy", "categories": "Evaluation on"}

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;overflow-wrap:anywhere}"
    ".scroll{overflow-x:auto;margin:1em 0}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;font-size:14px;vertical-align:top;"
    "min-width:5em;max-width:32em;overflow-wrap:break-word}"
    "th{background:#f1f3f5}img{max-width:100%;height:auto;display:block;margin:1em 0}"
    "details summary{cursor:pointer;color:#495057}.note{color:#495057;font-size:14px}"
    "ul.judges{padding-left:1.2em}@media (max-width:600px){body{margin:1em auto}td,th{font-size:13px;min-width:7em}}"
)


def _placed(sections: list[Section], plots: list[Path]) -> dict[int, list[Path]]:
    """Which plots follow which section (index); -1: after the last section."""
    out: dict[int, list[Path]] = {}
    for p in plots:
        anchor = PLACE.get(p.stem)
        matches = [i for i, s in enumerate(sections) if anchor and s[0].startswith(anchor)]
        out.setdefault(matches[-1] if matches else -1, []).append(p)
    return out


def _md_cell(c: str) -> str:
    return f"{c}<details><summary>all counts</summary>{c.detail}</details>" if isinstance(c, Folded) else c


def md_table(rows: list[list[str]]) -> str:
    head = "| " + " | ".join(rows[0]) + " |\n|" + "---|" * len(rows[0]) + "\n"
    return head + "".join("| " + " | ".join(_md_cell(c) for c in r) + " |\n" for r in rows[1:])


def _html_cell(c: str) -> str:
    if isinstance(c, Folded):
        return f"{html.escape(c)}<details><summary>all counts</summary>{html.escape(c.detail)}</details>"
    return html.escape(c)


def html_table(rows: list[list[str]]) -> str:
    head = "<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in rows[0]) + "</tr>"
    body = "".join("<tr>" + "".join(f"<td>{_html_cell(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
    return f"<div class='scroll'><table>{head}{body}</table></div>"


def markdown(run_dir: Path, sections: list[Section], plots: list[Path], judges: list[str] = ()) -> str:
    """report.md: the plots are linked beside it by file name, each after the table it illustrates."""
    md = "# hrlaif run report\n\n" + f"Run directory: `{run_dir}`\n\n{INTRO}\n\n"
    md += (f"{JUDGES}\n\n" + "".join(f"- {line}\n" for line in judges) + "\n") if judges else ""
    placed = _placed(sections, plots)
    for i, (title, rows, *note) in enumerate(sections):
        md += f"## {title}\n\n{md_table(rows)}\n" + "".join(f"{line}\n\n" for n in note for line in n.splitlines() if line)
        md += "".join(f"![{p.stem}]({p.name})\n\n" for p in placed.get(i, []))
    md += "".join(f"![{p.stem}]({p.name})\n\n" for p in placed.get(-1, []))
    return md


def _img(p: Path) -> str:
    return f'<img alt="{p.stem}" src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}">'


def html_page(run_dir: Path, sections: list[Section], plots: list[Path], judges: list[str] = ()) -> str:
    """report.html: one self-contained page, the plots embedded."""
    placed = _placed(sections, plots)
    body = "".join(
        f"<h2>{html.escape(title)}</h2>{html_table(rows)}" + "".join(f"<p class='note'>{html.escape(line)}</p>" for n in note for line in n.splitlines() if line)
        + "".join(_img(p) for p in placed.get(i, []))
        for i, (title, rows, *note) in enumerate(sections)
    )
    judge_list = (f"<p>{html.escape(JUDGES)}</p><ul class='judges'>" + "".join(f"<li>{html.escape(line)}</li>" for line in judges) + "</ul>") if judges else ""
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>hrlaif run report</title><style>{STYLE}</style></head><body>"
        f"<h1>hrlaif run report</h1><p>Run directory: <code>{html.escape(str(run_dir))}</code></p><p>{html.escape(INTRO)}</p>"
        + judge_list + body + "".join(_img(p) for p in placed.get(-1, [])) + "</body></html>"
    )
