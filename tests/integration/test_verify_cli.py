"""`hrlaif verify` and `hrlaif audit` from the command line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from hrlaif.cli import app
from hrlaif.jsonl import iter_objects

runner = CliRunner()


def test_verify_command_writes_correct_and_extracted(tmp_path):
    records = [
        {"category": "math", "reference": "19", "response": "12 + 7 = 19. The answer is 19."},
        {"category": "math", "reference": "19", "response": "The answer is 21."},
        {"category": "math", "reference": "19", "response": "I do not know."},
        {"category": "multiple_choice", "reference": "B", "choices": ["Rome", "Paris"], "response": "Answer: (B)"},
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["verify", str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["correct"] for r in rows] == [True, False, None, True]
    assert rows[0]["extracted"] == "19" and rows[3]["extracted"] == "B"
    assert "unknown=1" in result.output


def test_verify_command_bad_line_names_file_and_line(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"category": "math", "reference": "1", "response": "1"}\n{"category": "poetry", "reference": "1", "response": "x"}\n')
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["verify", str(src), "-o", str(out)])
    assert result.exit_code == 2 and f"{src}:2:" in result.output
    assert not out.exists()


def test_audit_without_labels_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["audit", str(tmp_path)])
    assert result.exit_code == 2 and "no labels to audit" in result.output


def test_verify_reference_past_float_range_is_unknown_and_output_is_json(tmp_path):
    # JSON's 1e400 reads as infinity: once judged correct and written as `Infinity`, which is
    # not JSON, so `hrlaif verify` rejected its own output (issue 27).
    src = tmp_path / "in.jsonl"
    src.write_text(
        '{"category": "math", "reference": 1e400, "response": "The answer is 1e400."}\n'
        '{"category": "math", "reference": -1e400, "response": "The answer is 5."}\n'
        '{"category": "math", "reference": "19", "response": "The answer is 19.", "score": 1e400}\n'
    )
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["verify", str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} is not JSON")) for line in out.read_text().splitlines()]
    assert [r["correct"] for r in rows] == [None, None, True]
    assert [record for _, record in iter_objects(out)] == rows  # hrlaif's own strict reader takes it
    assert rows[0]["reference"] is None and rows[2]["score"] is None  # the lost value is not made up
