"""verify_file: the verified copy of a JSON-lines file, and the errors that leave nothing behind."""

from __future__ import annotations

import json

import pytest

from hrlaif.errors import HrlaifError
from hrlaif.verify.batch import verify_file

CHOICES = ["Paris", "London", "Berlin", "Madrid"]


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _records():
    return [
        {"id": "m1", "category": "math", "reference": "13", "response": "10 + 3 = 13", "prompt": "p"},
        {"id": "m2", "category": "math", "reference": 42, "response": "#### 41", "choices": None},
        {"id": "m3", "category": "math", "reference": "7", "response": "I am not sure."},
        {"id": "c1", "category": "multiple_choice", "reference": "B", "response": "Answer: (B)", "choices": CHOICES},
        {"id": "c2", "category": "multiple_choice", "reference": "A", "response": "I choose D", "choices": CHOICES},
        {"id": "c3", "category": "multiple_choice", "reference": "C", "response": "A dog barks.", "choices": CHOICES},
        {"id": "u1", "category": "math", "reference": "x", "response": "\u00e9t\u00e9 \\boxed{x}", "note": "\u2713"},
    ]


def test_verify_file_writes_every_record_with_verdicts(tmp_path):
    source = _write(tmp_path / "in.jsonl", [json.dumps(r) for r in _records()] + ["", "   "])
    target = tmp_path / "out" / "verified.jsonl"
    counts = verify_file(source, target)
    assert counts == {"total": 7, "correct": 3, "wrong": 2, "unknown": 2, "error": 0}
    rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [row["id"] for row in rows] == ["m1", "m2", "m3", "c1", "c2", "c3", "u1"]
    assert [row["correct"] for row in rows] == [True, False, None, True, False, None, True]
    assert [row["extracted"] for row in rows] == ["13", "41", None, "B", "D", None, "x"]
    # original fields are kept untouched, numbers stay numbers, non-ASCII stays readable
    assert rows[0]["prompt"] == "p"
    assert rows[1]["reference"] == 42 and rows[1]["choices"] is None
    assert rows[6]["note"] == "\u2713"
    assert "\u2713" in target.read_text(encoding="utf-8")
    assert sorted(p.name for p in target.parent.iterdir()) == ["verified.jsonl"]  # no temp files


def test_verify_file_in_place_and_rerun_overwrites_verdicts(tmp_path):
    path = _write(tmp_path / "data.jsonl", [json.dumps(r) for r in _records()[:2]])
    verify_file(path, path)
    first = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [row["correct"] for row in first] == [True, False]
    counts = verify_file(path, path)  # the old "correct"/"extracted" are replaced, not duplicated
    assert counts == {"total": 2, "correct": 1, "wrong": 1, "unknown": 0, "error": 0}
    assert [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] == first


def test_lone_surrogate_is_written_escaped(tmp_path):
    line = '{"category": "math", "reference": "1", "response": "\\ud800 #### 1"}'
    source = _write(tmp_path / "in.jsonl", [line])
    target = tmp_path / "out.jsonl"
    assert verify_file(source, target)["correct"] == 1
    assert json.loads(target.read_text(encoding="utf-8"))["response"] == "\ud800 #### 1"


def test_hostile_record_does_not_stall_the_file(tmp_path):
    records = [
        {"category": "math", "reference": "5", "response": "\\boxed{10^{10^{10}}}"},
        {"category": "math", "reference": "5", "response": "9" * 1_000_000},
        {"category": "math", "reference": "5", "response": "#### 5"},
    ]
    source = _write(tmp_path / "in.jsonl", [json.dumps(r) for r in records])
    counts = verify_file(source, tmp_path / "out.jsonl", timeout_s=0.5)
    assert counts == {"total": 3, "correct": 1, "wrong": 0, "unknown": 2, "error": 0}


def test_truncated_records_are_not_read_by_their_last_number(tmp_path):
    cut = "Step 1: 6 * 7 = 42.\nStep 2: we now add the 9 from"
    records = [
        {"category": "math", "reference": "51", "response": cut, "truncated": True},
        {"category": "math", "reference": "51", "response": cut},
        {"category": "math", "reference": "51", "response": "The answer is 51. To check,", "truncated": True},
    ]
    source = _write(tmp_path / "in.jsonl", [json.dumps(r) for r in records])
    counts = verify_file(source, tmp_path / "out.jsonl", timeout_s=30)  # a worker killed before may be rebooting
    assert counts == {"total": 3, "correct": 1, "wrong": 1, "unknown": 1, "error": 0}
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [row["correct"] for row in rows] == [None, False, True]
    assert rows[0]["truncated"] is True and "truncated" not in rows[1]


def test_a_record_the_verifier_fails_on_is_counted_as_an_error(tmp_path, monkeypatch):
    import hrlaif.verify.math as vm

    def broken(text, truncated=False):
        raise RuntimeError("extraction bug")

    monkeypatch.setattr(vm, "extract_math_answer", broken)
    source = _write(tmp_path / "in.jsonl", [json.dumps(_records()[0]), json.dumps(_records()[3])])
    counts = verify_file(source, tmp_path / "out.jsonl")
    assert counts == {"total": 2, "correct": 1, "wrong": 0, "unknown": 0, "error": 1}


GOOD = json.dumps({"category": "math", "reference": "1", "response": "#### 1"})


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ('{"category": "math", "reference": "1", "response": ', "invalid JSON"),
        ("[1, 2, 3]", "expected a JSON object, got list"),
        ('"just a string"', "expected a JSON object, got str"),
        ('{"category": "math", "response": "1"}', "missing field 'reference'"),
        ('{"category": "math", "reference": "1"}', "missing field 'response'"),
        ('{"reference": "1", "response": "1"}', "missing field 'category'"),
        ('{"category": "open_ended", "reference": "1", "response": "1"}', "unknown category 'open_ended'"),
        ('{"category": "math", "reference": "1", "response": null}', "field 'response' must be a string"),
        ('{"category": "math", "reference": "", "response": "1"}', "field 'reference' must be a non-empty string"),
        ('{"category": "math", "reference": true, "response": "1"}', "field 'reference'"),
        ('{"category": "multiple_choice", "reference": "A", "response": "A"}', "missing field 'choices'"),
        ('{"category": "multiple_choice", "reference": "A", "response": "A", "choices": []}', "field 'choices'"),
        ('{"category": "multiple_choice", "reference": "A", "response": "A", "choices": [1, 2]}', "field 'choices'"),
        ('{"category": "multiple_choice", "reference": "E", "response": "A", "choices": ["x", "y"]}', "not one of the 2"),
        ('{"category": "math", "reference": "1", "response": "1", "truncated": "yes"}', "'truncated' must be true or false"),
    ],
)
def test_bad_input_names_file_and_line_and_writes_nothing(tmp_path, bad_line, message):
    source = _write(tmp_path / "in.jsonl", [GOOD, "", bad_line, GOOD])
    target = tmp_path / "out" / "verified.jsonl"
    with pytest.raises(HrlaifError) as caught:
        verify_file(source, target)
    assert str(caught.value).startswith(f"{source}:3: ")
    assert message in str(caught.value)
    assert not target.exists()
    assert not target.parent.exists() or list(target.parent.iterdir()) == []


def test_non_utf8_line(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_bytes(GOOD.encode() + b"\n" + b'{"category": "math", "reference": "\xff", "response": "1"}\n')
    with pytest.raises(HrlaifError, match=r"in\.jsonl:2: not valid UTF-8"):
        verify_file(source, tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()


def test_existing_output_survives_a_failed_run(tmp_path):
    target = _write(tmp_path / "out.jsonl", ["previous result"])
    source = _write(tmp_path / "in.jsonl", [GOOD, "not json"])
    with pytest.raises(HrlaifError, match=":2: invalid JSON"):
        verify_file(source, target)
    assert target.read_text(encoding="utf-8") == "previous result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]


def test_missing_input_file(tmp_path):
    with pytest.raises(HrlaifError, match="file not found"):
        verify_file(tmp_path / "nope.jsonl", tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()
