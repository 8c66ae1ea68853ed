"""write_report reads each judge exam once, and every section that rests on it agrees with it."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from hrlaif.report import write_report
from hrlaif.run_dir import RunDir


def _exam(judge: str, refusal_qualified: bool) -> dict:
    task = {"n": 40, "balanced_accuracy": None, "accuracy": None, "yes_rate": None}
    return {"judge": judge, "exam": "bundled", "floor": 0.1,
            "tasks": {"preference": task | {"qualified": True},
                      "answer_match": task | {"qualified": True},
                      "reasoning": task | {"qualified": True},
                      "harm": task | {"qualified": True},
                      "refusal": task | ({"qualified": True} if refusal_qualified else {"qualified": False, "reason": "too few refusals seen"})}}


def test_each_exam_is_read_once_per_report(tmp_path: Path, monkeypatch) -> None:
    run = RunDir(tmp_path / "run")
    for role, judge in (("label", "labeler"), ("eval", "grader")):
        run.exam(role).parent.mkdir(parents=True)
        run.exam(role).write_text(json.dumps(_exam(judge, refusal_qualified=role == "eval")))
    for mode in ("rlaif", "hrlaif"):
        run.manifest(f"label-{mode}").parent.mkdir(parents=True)
        run.manifest(f"label-{mode}").write_text(json.dumps({"counts": {"pairs": 3}, "judge": {"judge": "labeler", "calls": 6}}))
    reads: Counter[Path] = Counter()
    read_text = Path.read_text

    def counting(self: Path, *args, **kwargs) -> str:
        reads[self] += 1
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counting)
    write_report(run.root)
    assert reads[run.exam("label")] == 1 and reads[run.exam("eval")] == 1
    md = (run.report / "report.md").read_text()
    assert "Judge exam, labeling judge, bundled exam" in md and "Judge exam, evaluation judge (the grading judge), bundled exam" in md
    # each judge is defined once at the top, with what its exam said; the tables use the short name
    assert "- labeling judge: labeler, an AI judge; its exam: NOT qualified on refusal" in md
    assert "- grading judge (evaluation): grader; its exam: qualified on every task examined" in md
    assert md.count("labeler") == 1 and md.count("grader") == 1, md
    assert "| refusal | 40 | n/a | n/a | n/a | no: too few refusals seen |" in md
    # the labels rest on the labeling judge's exam: hrlaif's on refusal too, which did not qualify there
    assert "| rlaif | 3 |  | labeling judge: preference (qualified) | 6 |" in md
    assert "| hrlaif | 3 |  | labeling judge: preference+answer_match+reasoning+refusal+harm (NOT qualified: refusal) | 6 |" in md
