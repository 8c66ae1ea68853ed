"""Prompts from any `datasets` source, mapped onto our Prompt records.

A user arrives with GSM8K, MMLU, MATH, a TRL prompt-only set or their own parquet; each is
read as it is (local JSONL / JSON / parquet / arrow / CSV files or folders, or a hub dataset)
and mapped by a preset or `data.columns`. Columns the mapping does not use pass through in
`Prompt.extra`. Our own JSONL schema keeps its strict reader elsewhere (prompts.py); every
error here names the source and row, or the config key that asked for a missing column.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hrlaif.config import DataConfig
from hrlaif.errors import HrlaifError
from hrlaif.jsonl import iter_objects
from hrlaif.records import Prompt

LETTERS = 26  # options are labelled A..Z; a 27th would get '[' and could never be answered

FIELDS = ("id", "prompt", "messages", "category", "reference", "choices")

# Each preset's columns and the category of its rows (data.columns / data.category override them).
PRESETS: dict[str, tuple[dict[str, str], str]] = {
    "gsm8k": ({"prompt": "question", "reference": "answer"}, "math"),
    "mmlu": ({"prompt": "question", "choices": "choices", "reference": "answer"}, "multiple_choice"),
    "math": ({"prompt": "problem", "reference": "solution"}, "math"),
    "trl": ({"prompt": "prompt"}, "open_ended"),
    "columns": ({}, "open_ended"),
    "hrlaif": ({}, "open_ended"),  # unused: our schema is validated as it is
}
BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".arrow": "arrow", ".csv": "csv"}
MC_INSTRUCTION = "Answer with the letter of the correct option."


def is_hub(spec: str) -> bool:
    return spec.startswith("hub:")


def iter_rows(spec: str, split: str, split_key: str, subset: str | None) -> Iterator[tuple[str, dict]]:
    """("where", row) for every row of a file, folder or hub dataset; JSONL keeps file:line."""
    if is_hub(spec):
        yield from _dataset_rows(spec, _load_hub(spec[4:], subset), split, split_key)
        return
    path = Path(spec)
    if not path.exists():
        raise HrlaifError(f"{path}: file not found")
    if path.is_file() and path.suffix == ".jsonl":
        yield from iter_objects(path)
        return
    yield from _dataset_rows(str(path), _load_local(path), split, split_key)


def _load_hub(name: str, subset: str | None) -> Any:
    import datasets

    try:
        return datasets.load_dataset(name, subset)
    except Exception as exc:  # offline, unknown name, missing subset: all end the same way for the user
        raise HrlaifError(f"hub:{name}: cannot load it ({type(exc).__name__}: {_first_line(exc)}); a hub dataset needs the hub (HF_HUB_OFFLINE unset)") from None


def _load_local(path: Path) -> Any:
    import datasets

    try:
        if path.is_dir():
            if (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file():
                return datasets.load_from_disk(str(path))  # saved by Dataset.save_to_disk
            # suffixes in any case: `datasets` skips "a.JSONL", so it must count as a kind of its own here too
            kinds = sorted({p.suffix.lower() for p in path.rglob("*") if p.is_file() and p.suffix.lower() in BUILDERS})
            if not kinds:
                raise HrlaifError(f"{path}: a folder with no .jsonl/.json/.parquet/.arrow/.csv files")
            if len(kinds) > 1:  # `datasets` would read one kind and silently drop the rest
                raise HrlaifError(f"{path}: a folder with several file kinds ({', '.join(kinds)}); keep one kind per folder")
            return datasets.load_dataset(str(path))
        builder = BUILDERS.get(path.suffix)
        if builder is None:
            raise HrlaifError(f"{path}: unsupported file type '{path.suffix}' (use .jsonl, .json, .parquet, .arrow or .csv, or a folder)")
        return datasets.load_dataset(builder, data_files=str(path), split="train")
    except HrlaifError:
        raise
    except Exception as exc:  # pyarrow/datasets raise many types for a corrupt or odd file
        raise HrlaifError(f"{path}: cannot read it as a dataset ({type(exc).__name__}: {_first_line(exc)})") from None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else "no message"


def _dataset_rows(source: str, loaded: Any, split: str, split_key: str) -> Iterator[tuple[str, dict]]:
    import datasets

    if isinstance(loaded, datasets.DatasetDict):
        if split in loaded:
            loaded, source = loaded[split], f"{source} [{split}]"
        elif len(loaded) == 1:
            loaded = next(iter(loaded.values()))
        else:
            raise HrlaifError(f"{source}: no split '{split}' ({split_key}); it has {', '.join(loaded)}")
    for number, row in enumerate(loaded, start=1):
        yield f"{source} row {number}", row


def read_prompts(spec: str, data: DataConfig, which: str) -> list[Prompt]:
    """Every row of `spec` as a Prompt, by data.format (or eval_format) and data.columns."""
    fmt = data.format_of(which)  # type: ignore[arg-type]
    split_key = f"data.{which}_split"
    split = data.train_split if which == "train" else data.eval_split
    rows = iter_rows(spec, split, split_key, data.hub_subset)
    name = Path(spec[4:] if is_hub(spec) else spec).stem or "prompt"
    if fmt == "hrlaif":
        return [_validate({k: v for k, v in row.items() if v is not None}, where, _hint(row, fmt, which)) for where, row in rows]
    preset, default_category = PRESETS[fmt]
    columns_key = data.columns_key(which)  # type: ignore[arg-type]
    overrides = {f: c for f, c in data.columns_of(which).model_dump().items() if c}  # type: ignore[arg-type]
    columns = preset | overrides
    category = data.category or default_category
    prompts = []
    for number, (where, row) in enumerate(rows, start=1):
        for field, column in columns.items():
            if column not in row:
                key = f"{columns_key}.{field}" if field in overrides else f"data.format {fmt} (its '{field}' column; rename with {columns_key}.{field})"
                if which == "eval" and field in overrides and data.eval_columns is None:
                    key += ", which applies to data.eval_prompts too: set data.eval_columns for the eval set's columns"
                raise HrlaifError(f"{where}: no column '{column}' ({key}); the columns are {', '.join(map(repr, row))}{_hint(row, fmt, which, listed=True)}")
        try:
            record = _map_row(row, columns, set(overrides), fmt, where, f"{name}-{number}", category)
        except HrlaifError as exc:
            raise HrlaifError(f"{exc}{_hint(row, fmt, which)}") from None
        prompts.append(_validate(record, where))
    return prompts


def _hint(row: dict, fmt: str, which: str, listed: bool = False) -> str:
    """'; the columns (...) look like data.format: mmlu' when a row has every column of another preset
    (the one with most columns); else, for a row our schema does not fit, where to map columns."""
    key = "data.eval_format" if which == "eval" else "data.format"
    fits = [name for name, (columns, _) in PRESETS.items() if columns and set(columns.values()) <= set(row)]
    best = max(fits, key=lambda name: len(PRESETS[name][0]), default=None)
    if best is not None and best != fmt:
        names = "they" if listed else f"the columns ({', '.join(map(repr, row))})"
        return f"; {names} look like {key}: {best}"
    if fmt == "hrlaif" and not set(row) & {"messages", "id"}:
        return f"; not our schema: map the file's columns with {key}: columns and data.columns.prompt (or a preset: gsm8k, mmlu, math, trl)"
    return ""


def _validate(record: dict, where: str, hint: str = "") -> Prompt:
    try:
        prompt = Prompt.model_validate(record)
    except ValidationError as exc:
        parts = [f"field '{'.'.join(map(str, e['loc'])) or '(record)'}': {e['msg']}" for e in exc.errors()]
        raise HrlaifError(f"{where}: {'; '.join(parts)}{hint}") from None
    prompt._source = where
    return prompt


def _map_row(row: dict, columns: dict[str, str], overridden: set[str], fmt: str, where: str, default_id: str, category: str) -> dict:
    def raw(field: str) -> Any:
        return row[columns[field]] if field in columns else None

    if "id" in columns:
        if _missing(raw("id")):  # an error, not a made-up id: ids join samples, labels and evals across runs
            raise HrlaifError(f"{where}: column '{columns['id']}' (the prompt id) is missing")
        record: dict[str, Any] = {"id": str(raw("id"))}
    else:
        record = {"id": default_id}
    text_field = "messages" if "messages" in columns else "prompt"
    value = raw(text_field)
    if isinstance(value, str):
        record["messages"] = [{"role": "user", "content": value}]
    elif isinstance(value, list) and all(isinstance(m, dict) for m in value):
        record["messages"] = [{"role": m.get("role"), "content": m.get("content")} for m in value]
    else:
        raise HrlaifError(f"{where}: column '{columns[text_field]}' must be a string or a list of {{role, content}} messages, got {type(value).__name__}")
    record["category"] = raw("category") if "category" in columns else category
    choices = raw("choices")
    if choices is not None:
        if not isinstance(choices, list):
            raise HrlaifError(f"{where}: column '{columns['choices']}' must be a list of option texts, got {type(choices).__name__}")
        if len(choices) > LETTERS:
            raise HrlaifError(f"{where}: column '{columns['choices']}' has {len(choices)} options; at most {LETTERS} (A to Z) can be labelled")
        for index, option in enumerate(choices):
            if _missing(option):
                raise HrlaifError(f"{where}: column '{columns['choices']}': option {chr(ord('A') + index)} is missing")
        record["choices"] = [str(c) for c in choices]
    reference = raw("reference")
    if _missing(reference):
        if "reference" in columns and record["category"] in ("math", "multiple_choice"):
            raise HrlaifError(f"{where}: column '{columns['reference']}' (the reference) is missing")
        reference = None  # an open-ended row may have none; a gap (null or NaN) is never the text "nan"
    if reference is not None:
        record["reference"] = _reference(reference, fmt, record["category"], "reference" in overridden, where, columns["reference"])
    if fmt == "mmlu" and "prompt" not in overridden and record.get("choices"):
        options = "\n".join(f"{chr(ord('A') + i)}. {c}" for i, c in enumerate(record["choices"]))
        record["messages"][-1]["content"] = f"{record['messages'][-1]['content']}\n{options}\n{MC_INSTRUCTION}"
    used = {columns[f] for f in columns}
    record["extra"] = {k: _jsonable(v) for k, v in row.items() if k not in used}
    return record


def _missing(value: Any) -> bool:
    """A null cell, or the NaN that pandas and parquet put in a gap of a float column."""
    return value is None or (isinstance(value, float) and value != value)


def _reference(value: Any, fmt: str, category: Any, taken_as_is: bool, where: str, column: str) -> str:
    if isinstance(value, bool):
        raise HrlaifError(f"{where}: column '{column}' holds a boolean, not an answer")
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a numeric column with a gap is read as floats: 42.0 is 42
    if isinstance(value, int) and category == "multiple_choice":  # an option index (MMLU's ClassLabel) becomes its letter
        if not 0 <= value < LETTERS:
            raise HrlaifError(f"{where}: column '{column}': option index {value} out of range")
        return chr(ord("A") + value)
    text = str(value)
    if taken_as_is:
        return text
    if fmt == "gsm8k":
        if "####" not in text:
            raise HrlaifError(f"{where}: column '{column}' has no '#### <final answer>' line (data.format gsm8k)")
        return text.rsplit("####", 1)[1].strip().replace(",", "")
    if fmt == "math":
        boxed = last_boxed(text)
        if boxed is None:
            raise HrlaifError(f"{where}: column '{column}' has no \\boxed{{...}} answer (data.format math; map an answer column with data.columns.reference)")
        return boxed
    return text


def last_boxed(text: str) -> str | None:
    """The content of the last \\boxed{...} (or \\fbox{...}), braces balanced."""
    starts = [m.end() for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", text)]
    if not starts:
        return None
    depth, start = 1, starts[-1]
    for index in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return text[start:index].strip()
    return None


def _jsonable(value: Any) -> Any:
    """Extras as JSON can hold them (dates and other objects become strings)."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def source_stamp(spec: str, path: Path, data: DataConfig, which: str) -> str:
    """What a stage's fingerprint records of a prompt source: the file's hash (as before for our
    own files), a folder's files' hashes, or a hub name; plus the mapping when it is not ours."""
    if is_hub(spec):
        base = spec
    elif path.is_file():
        base = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        if not any(p.suffix in BUILDERS for p in files):
            raise HrlaifError(f"{path}: a folder with no .jsonl/.json/.parquet/.arrow/.csv files")
        digest = hashlib.sha256()
        for file in files:
            digest.update(str(file.relative_to(path)).encode() + b"\0" + file.read_bytes())
        base = digest.hexdigest()[:16]
    else:
        raise HrlaifError(f"{path}: file not found")
    fmt = data.format_of(which)  # type: ignore[arg-type]
    if spec.startswith("bundled:") or (fmt == "hrlaif" and path.is_file()):  # no mapping applies: as before
        return base
    mapping = {"format": fmt, "columns": data.columns_of(which).model_dump(),  # type: ignore[arg-type] "category": data.category, "subset": data.hub_subset,
               "split": data.train_split if which == "train" else data.eval_split}
    return base + ":" + hashlib.sha256(json.dumps(mapping, sort_keys=True).encode()).hexdigest()[:12]
