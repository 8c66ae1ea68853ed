"""Reading and writing JSON-lines files strictly and atomically.

Every stage hands its output to the next as JSON lines. A bad line must be reported with
its file and line number, and a crash must never leave a half-written file that a later
stage would take for finished work, so writes go to a temporary file and are renamed.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from hrlaif.errors import HrlaifError

M = TypeVar("M", bound=BaseModel)


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(record)"
        parts.append(f"field '{where}': {item['msg']}")
    return "; ".join(parts)


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"key '{twice}' appears twice in one object")
    return data


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def parse_json_line(line: str, where: str) -> object:
    """One JSON value, strictly: every way a hostile line can fail becomes an HrlaifError at `where`."""
    try:
        data = json.loads(line, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise HrlaifError(f"{where}: invalid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise HrlaifError(f"{where}: JSON nested too deeply") from None
    except ValueError as exc:  # duplicate keys, NaN/Infinity, integers past Python's digit limit
        raise HrlaifError(f"{where}: {exc}") from None
    return data


def iter_objects(path: str | Path) -> Iterator[tuple[str, dict]]:
    """Yield ("file:line", object) for every non-blank line; any line that is not a UTF-8 JSON
    object raises HrlaifError naming the file and line."""
    path = Path(path)
    if path.is_dir():
        raise HrlaifError(f"{path}: is a directory, expected a JSON-lines file")
    if not path.is_file():
        raise HrlaifError(f"{path}: file not found")
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            where = f"{path}:{number}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise HrlaifError(f"{where}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
            if not line.strip():
                continue
            array = f"{where}: expected one JSON object per line (JSON lines), got a JSON array"
            try:
                data = parse_json_line(line, where)
            except HrlaifError:
                if number == 1 and line.strip() == "[":  # a pretty-printed JSON array file
                    raise HrlaifError(array) from None
                raise
            if isinstance(data, list) and number == 1:
                raise HrlaifError(array)
            if not isinstance(data, dict):
                raise HrlaifError(f"{where}: expected a JSON object, got {type(data).__name__}")
            yield where, data


def read_jsonl(path: str | Path, model: type[M], context: dict[str, Any] | None = None) -> list[M]:
    """Parse every non-blank line of `path` as `model` (its validators get `context`); errors name the file and line."""
    records: list[M] = []
    remembers_source = "_source" in getattr(model, "__private_attributes__", {})
    for where, data in iter_objects(path):
        try:
            record = model.model_validate(data, context=context)
        except ValidationError as exc:
            raise HrlaifError(f"{where}: {_describe(exc)}") from None
        if remembers_source:
            record._source = where
        records.append(record)
    return records


def _new_file_beside(path: Path) -> Path:
    """A new empty file next to `path`, created with mode 0o666 so that the kernel applies the umask
    (and a default ACL) as for any plain open(): tempfile.mkstemp creates 0600, which left every JSON,
    JSONL and report file private whatever the umask. No umask is read or changed (os.umask can only
    be read by setting it, which races with threads creating files)."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return tmp


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only if the block succeeds.

    A path that cannot be written, and a disk that fills up on the way, end as one HrlaifError
    naming `path`, with the temporary file removed."""
    path = Path(path)
    if path.is_dir():
        raise HrlaifError(f"{path}: is a directory, expected a file path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp_path = _new_file_beside(path)
    except OSError as exc:
        raise HrlaifError(f"{path}: cannot write here ({exc.strerror or exc})") from None
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise HrlaifError(f"disk full while writing {path}; nothing of it was kept") from None
        raise
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_jsonl(path: str | Path, records: Iterable[BaseModel | dict]) -> int:
    """Write records atomically, one JSON object a line; returns how many were written."""
    count = 0
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as handle:
        for record in records:
            data = record.model_dump(mode="json") if isinstance(record, BaseModel) else record
            handle.write(json.dumps(data, ensure_ascii=False) + "\n")
            count += 1
        handle.flush()
        os.fsync(handle.fileno())
    return count


def write_json(path: str | Path, data: dict | list) -> None:
    """Write one JSON document atomically (manifests, summaries)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
