"""Prompts from `datasets` sources: each preset on a small file in its own shape, made here."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pandas as pd
import pytest

from hrlaif.config import DataConfig
from hrlaif.errors import HrlaifError
from hrlaif.jsonl import write_jsonl
from hrlaif.prompt_sources import last_boxed
from hrlaif.prompts import load_prompts
from hrlaif.records import Sample

GSM8K = [
    {"question": "Tom has 3 apples and buys 4 more. How many apples?", "answer": "3 + 4 = <<3+4=7>>7\n#### 7"},
    {"question": "A shop sells 1200 pens a day. How many in 2 days?", "answer": "1200 * 2 = 2400\n#### 2,400"},
]
MMLU = [
    {"question": "What is the capital of Norway?", "subject": "geography", "choices": ["Rome", "Oslo", "Helsinki", "Dublin"], "answer": 1},
    {"question": "How many legs has a spider?", "subject": "biology", "choices": ["6", "8", "10", "4"], "answer": 1},
    {"question": "2 + 2 = ?", "subject": "math", "choices": ["4", "5"], "answer": 0},
]
MATH = [
    {"problem": "Compute $\\frac{1}{2} + \\frac{1}{4}$.", "solution": "We get $\\boxed{\\frac{3}{4}}$.", "level": "Level 1", "type": "Algebra"},
    {"problem": "What is $2^{10}$?", "solution": "First $\\boxed{2}$ is wrong; in fact $2^{10} = \\boxed{1024}$.", "level": "Level 2", "type": "Algebra"},
]


def parquet(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_parquet(path)
    return path


def test_gsm8k_parquet_becomes_math_prompts_with_the_final_answer(tmp_path):
    prompts = load_prompts(str(parquet(tmp_path / "gsm8k.parquet", GSM8K)), data=DataConfig(format="gsm8k"))
    assert [(p.category, p.reference) for p in prompts] == [("math", "7"), ("math", "2400")]
    assert prompts[0].text == GSM8K[0]["question"] and prompts[0].id == "gsm8k-1"
    assert prompts[0].extra == {}  # both columns were used
    assert prompts[1].where.endswith("gsm8k.parquet row 2")


def test_mmlu_parquet_becomes_multiple_choice_with_letters_and_subject_passes_through(tmp_path):
    prompts = load_prompts(str(parquet(tmp_path / "mmlu.parquet", MMLU)), data=DataConfig(format="mmlu"))
    assert [p.reference for p in prompts] == ["B", "B", "A"]
    assert prompts[0].choices == ["Rome", "Oslo", "Helsinki", "Dublin"]
    assert prompts[0].text.splitlines() == ["What is the capital of Norway?", "A. Rome", "B. Oslo", "C. Helsinki", "D. Dublin",
                                            "Answer with the letter of the correct option."]
    assert [p.extra for p in prompts] == [{"subject": "geography"}, {"subject": "biology"}, {"subject": "math"}]
    sample = Sample.of(prompts[0], "B", 0, "start")
    assert json.loads(sample.model_dump_json())["extra"] == {"subject": "geography"}  # extras reach the samples untouched


def test_math_preset_takes_the_last_boxed_answer_from_a_saved_arrow_dataset(tmp_path):
    datasets.Dataset.from_list(MATH).save_to_disk(str(tmp_path / "math"))
    prompts = load_prompts(str(tmp_path / "math"), data=DataConfig(format="math"))
    assert [p.reference for p in prompts] == ["\\frac{3}{4}", "1024"]
    assert prompts[1].extra == {"level": "Level 2", "type": "Algebra"}
    assert last_boxed("no box") is None and last_boxed("\\boxed{a{b}c} then \\boxed{d}") == "d"


def test_math_preset_can_take_an_answer_column_instead(tmp_path):
    rows = [dict(r, answer=a) for r, a in zip(MATH, ["3/4", "1024"])]
    prompts = load_prompts(str(parquet(tmp_path / "m.parquet", rows)), data=DataConfig(format="math", columns={"reference": "answer"}))
    assert [p.reference for p in prompts] == ["3/4", "1024"]
    assert "solution" in prompts[0].extra and "answer" not in prompts[0].extra


def test_trl_prompt_only_plain_and_conversational(tmp_path):
    plain = tmp_path / "plain.jsonl"
    plain.write_text(json.dumps({"prompt": "Say hi.", "source": "x"}) + "\n")
    chat = tmp_path / "chat.parquet"
    parquet(chat, [{"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}], "tag": 3}])
    [p] = load_prompts(str(plain), data=DataConfig(format="trl"))
    assert (p.text, p.category, p.extra) == ("Say hi.", "open_ended", {"source": "x"})
    [c] = load_prompts(str(chat), data=DataConfig(format="trl", category="harmful"))
    assert [m.role for m in c.messages] == ["system", "user"] and c.text == "Name a colour." and c.category == "harmful"
    assert c.extra == {"tag": 3}


def test_column_mapping_over_a_csv_with_categories_and_ids(tmp_path):
    path = tmp_path / "mine.csv"
    pd.DataFrame([{"key": "q1", "text": "What is 6 * 7?", "kind": "math", "gold": "42", "note": "n"},
                  {"key": "q2", "text": "Write a haiku.", "kind": "open_ended", "gold": None, "note": "m"}]).to_csv(path, index=False)
    data = DataConfig(format="columns", columns={"id": "key", "prompt": "text", "category": "kind", "reference": "gold"})
    prompts = load_prompts(str(path), data=data)
    assert [(p.id, p.category, p.reference) for p in prompts] == [("q1", "math", "42"), ("q2", "open_ended", None)]
    assert prompts[0].extra == {"note": "n"}


def test_a_folder_with_train_and_test_splits_reads_the_configured_split(tmp_path):
    folder = tmp_path / "gsm"
    folder.mkdir()
    parquet(folder / "train.parquet", GSM8K[:1])
    parquet(folder / "test.parquet", GSM8K[1:])
    data = DataConfig(format="gsm8k")
    assert [p.reference for p in load_prompts(str(folder), data=data, which="train")] == ["7"]
    assert [p.reference for p in load_prompts(str(folder), data=data, which="eval")] == ["2400"]
    with pytest.raises(HrlaifError, match=r"no split 'dev' \(data.eval_split\); it has"):
        load_prompts(str(folder), data=DataConfig(format="gsm8k", eval_split="dev"), which="eval")


def test_our_schema_from_parquet_and_our_jsonl_stay_strict(tmp_path):
    rows = [{"id": "a", "prompt": "What is 1 + 1?", "category": "math", "reference": "2", "choices": None}]
    assert load_prompts(str(parquet(tmp_path / "ours.parquet", rows)))[0].reference == "2"
    path = tmp_path / "ours.jsonl"
    path.write_text(json.dumps({"id": "a", "prompt": "x", "category": "open_ended", "subject": "s"}) + "\n")
    with pytest.raises(HrlaifError, match=r"ours.jsonl:1: field 'subject': Extra inputs are not permitted"):
        load_prompts(str(path))
    # our own files may carry extras explicitly, and they are written back only when present
    write_jsonl(path, load_prompts(str(parquet(tmp_path / "x.parquet", rows))))
    assert "extra" not in json.loads(path.read_text())


@pytest.mark.parametrize(
    ("rows", "data", "message"),
    [
        (GSM8K, {"format": "mmlu"}, r"mmlu.parquet row 1: no column 'choices' \(data.format mmlu \(its 'choices' column; rename with data.columns.choices\)\)"),
        (GSM8K, {"format": "gsm8k", "columns": {"prompt": "query"}}, r"row 1: no column 'query' \(data.columns.prompt\); the columns are 'question', 'answer'"),
        ([{"question": "q", "answer": "7"}], {"format": "gsm8k"}, r"row 1: column 'answer' has no '#### <final answer>' line \(data.format gsm8k\)"),
        ([{"problem": "q", "solution": "7"}], {"format": "math"}, r"row 1: column 'solution' has no \\boxed\{...\} answer"),
        ([{"prompt": 5}], {"format": "trl"}, r"row 1: column 'prompt' must be a string or a list"),
        ([{"text": "q", "kind": "poetry"}], {"format": "columns", "columns": {"prompt": "text", "category": "kind"}}, r"row 1: field 'category'"),
        ([{"question": "q", "choices": ["a", "b"], "answer": 5}], {"format": "mmlu"}, r"row 1: field '\(record\)'.*letter of the right option"),
    ],
)
def test_a_bad_mapping_or_row_is_one_line_naming_file_and_column(tmp_path, rows, data, message):
    path = parquet(tmp_path / "mmlu.parquet", rows)
    with pytest.raises(HrlaifError, match=message) as caught:
        load_prompts(str(path), data=DataConfig(**data))
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_bad_sources_name_the_path_or_key(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(HrlaifError, match="empty: a folder with no"):
        load_prompts(str(tmp_path / "empty"), data=DataConfig(format="gsm8k"))
    (tmp_path / "p.txt").write_text("hello")
    with pytest.raises(HrlaifError, match=r"p.txt: unsupported file type '.txt'"):
        load_prompts(str(tmp_path / "p.txt"), data=DataConfig(format="trl"))
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(HrlaifError, match=r"bad.parquet: cannot read it as a dataset"):
        load_prompts(str(tmp_path / "bad.parquet"), data=DataConfig(format="trl"))
    with pytest.raises(HrlaifError, match=r"hub:nobody/nothing: cannot load it .*needs the hub"):
        load_prompts("hub:nobody/nothing", data=DataConfig(format="trl"))
    with pytest.raises(ValueError, match="data.format 'columns' needs data.columns.prompt"):
        DataConfig(format="columns")


def test_gsm8k_and_mmlu_parquet_files_run_through_compare(tmp_path, tiny_model):
    """The issue's bar: a GSM8K-shaped train set and an MMLU-shaped eval set, both local parquet,
    through `hrlaif compare` with tiny models."""
    from typer.testing import CliRunner

    from hrlaif.cli import app

    from support.run_configs import COMPARE, DROP, write_run_config

    train = parquet(tmp_path / "gsm8k.parquet", [{"question": f"Ann has {n} pens and gets {n + 1} more. How many pens?",
                                                   "answer": f"{n} + {n + 1} = {2 * n + 1}\n#### {2 * n + 1}"} for n in range(8)])
    evaluation = parquet(tmp_path / "mmlu.parquet", MMLU)
    path = write_run_config(
        tmp_path, tiny_model, COMPARE, judge_check={"per_answer": 4}, redteam={"enabled": False},
        data={"max_train_prompts": DROP, "max_eval_prompts": DROP,  # every row of both files
              "train_prompts": str(train), "format": "gsm8k", "eval_prompts": str(evaluation), "eval_format": "mmlu"},
        evaluate={"generation": {"temperature": 1.0}, "win_ratio": False},
    )
    result = CliRunner().invoke(app, ["compare", "-c", str(path)])
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    samples = [json.loads(line) for line in (run / "sample" / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 16 and {s["category"] for s in samples} == {"math"}
    assert sorted({s["reference"] for s in samples}, key=int) == [str(2 * n + 1) for n in range(8)]
    results = json.loads((run / "eval" / "results.json").read_text())
    assert results["eval_prompts"] == len(MMLU)
    for policy in ("start", "rlaif", "hrlaif"):  # every arm graded on the MMLU rows by the verifier
        assert results["policies"][policy]["accuracy_by_category"]["multiple_choice"]["n"] == len(MMLU)
        responses = [json.loads(line) for line in (run / "eval" / f"responses-{policy}.jsonl").read_text().splitlines()]
        assert [r["extra"] for r in responses] == [{"subject": row["subject"]} for row in MMLU]
    pairs = [json.loads(line) for line in (run / "label-hrlaif" / "pairs.jsonl").read_text().splitlines()]
    assert pairs and all(p["category"] == "math" and p["reference"] for p in pairs)
    assert json.loads((run / "eval" / "manifest.json").read_text())["complete"]
    assert (run / "report" / "report.html").is_file()


def arrow_parquet(path: Path, columns: dict) -> Path:
    """Written by pyarrow itself, so a float NaN stays a NaN (pandas would turn it into a null)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path)
    return path


@pytest.mark.parametrize("gap", [float("nan"), None])
def test_a_missing_reference_is_an_error_for_math_and_no_reference_for_open_ended(tmp_path, gap):
    data = DataConfig(format="columns", columns={"prompt": "text", "reference": "gold", "category": "kind"})
    path = arrow_parquet(tmp_path / "refs.parquet", {"text": ["6 * 7?", "8 * 8?"], "kind": ["math", "math"], "gold": [42.0, gap]})
    with pytest.raises(HrlaifError, match=r"refs.parquet row 2: column 'gold' \(the reference\) is missing") as caught:
        load_prompts(str(path), data=data)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)
    path = arrow_parquet(tmp_path / "open.parquet", {"text": ["Say hi.", "Say bye."], "kind": ["open_ended"] * 2, "gold": [1.0, gap]})
    assert [p.reference for p in load_prompts(str(path), data=data)] == ["1", None]  # never the text "nan"


@pytest.mark.parametrize("gap", [float("nan"), None])
def test_a_missing_id_is_an_error_not_the_text_none(tmp_path, gap):
    ids = ["q1", gap] if gap is None else [1.0, gap]
    path = arrow_parquet(tmp_path / "ids.parquet", {"key": ids, "text": ["a?", "b?"]})
    with pytest.raises(HrlaifError, match=r"ids.parquet row 2: column 'key' \(the prompt id\) is missing"):
        load_prompts(str(path), data=DataConfig(format="columns", columns={"id": "key", "prompt": "text"}))


def test_a_missing_mmlu_option_is_an_error_not_the_text_none(tmp_path):
    rows = [MMLU[0], dict(MMLU[1], choices=["6", None, "10", "4"])]
    path = parquet(tmp_path / "mmlu.parquet", rows)
    with pytest.raises(HrlaifError, match=r"mmlu.parquet row 2: column 'choices': option B is missing"):
        load_prompts(str(path), data=DataConfig(format="mmlu"))


def test_more_options_than_letters_is_an_error_naming_file_and_row(tmp_path):
    rows = [MMLU[0], dict(MMLU[1], choices=[str(n) for n in range(27)])]
    path = parquet(tmp_path / "mmlu.parquet", rows)
    with pytest.raises(HrlaifError, match=r"mmlu.parquet row 2: column 'choices' has 27 options; at most 26 \(A to Z\)") as caught:
        load_prompts(str(path), data=DataConfig(format="mmlu"))
    assert "\n" not in str(caught.value)
    rows[1]["choices"] = [str(n) for n in range(26)]  # Z is the last letter, and fine
    assert load_prompts(str(parquet(tmp_path / "z.parquet", rows)), data=DataConfig(format="mmlu"))[1].text.splitlines()[26] == "Z. 25"


def test_a_folder_mixing_file_kinds_is_an_error_naming_the_kinds(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a.jsonl").write_text(json.dumps(GSM8K[0]) + "\n")
    pd.DataFrame(GSM8K[1:]).to_csv(folder / "b.csv", index=False)
    with pytest.raises(HrlaifError, match=r"mixed: a folder with several file kinds \(\.csv, \.jsonl\)"):
        load_prompts(str(folder), data=DataConfig(format="gsm8k"))


def test_eval_columns_map_the_eval_set_on_its_own(tmp_path):
    """data.columns applies to both sets unless data.eval_columns gives the eval set's own (issue 28);
    the eval source's stamp follows the columns it is read with, and is unchanged while eval_columns is unset."""
    from hrlaif.config import load_config
    from hrlaif.prompt_sources import source_stamp
    from hrlaif.stages.sources import check_sources

    train = parquet(tmp_path / "train.parquet", [{"q": r["question"], "answer": r["answer"]} for r in GSM8K])
    evals = parquet(tmp_path / "eval.parquet", GSM8K)
    common = [f"data.train_prompts={train}", f"data.eval_prompts={evals}", "data.format=gsm8k", "data.columns={prompt: q}"]
    shared = load_config(None, common)
    with pytest.raises(HrlaifError, match=r"eval.parquet row 1: no column 'q' \(data.columns.prompt, which applies to data.eval_prompts too: set data.eval_columns"):
        check_sources(shared)
    own = load_config(None, [*common, "data.eval_columns={prompt: question}"])
    check_sources(own)
    assert [p.reference for p in load_prompts(str(evals), data=own.data, which="eval")] == ["7", "2400"]
    assert [p.text for p in load_prompts(str(train), data=own.data, which="train")] == [r["question"] for r in GSM8K]
    assert source_stamp(str(evals), evals, own.data, "eval") != source_stamp(str(evals), evals, shared.data, "eval")
    assert source_stamp(str(train), train, own.data, "train") == source_stamp(str(train), train, shared.data, "train")
    with pytest.raises(HrlaifError, match=r"data.eval_format 'columns' needs data.eval_columns.prompt"):
        load_config(None, [*common, "data.eval_format=columns", "data.eval_columns={id: question}"])
