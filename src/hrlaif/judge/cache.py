"""A persistent answer cache in front of any judge, so no paid answer is ever asked for twice.

The key is the sha256 of everything that decides an answer: the inner judge (its name, which
holds backend and model, plus its sampling parameters or seed), the task's template version,
the task, the fields and the context. Changing one template's version therefore re-asks only
that task's questions; a different model or endpoint-independent setting gets its own rows.

Each answer is committed as its own row the moment the inner judge hands it over (through
`on_verdict`), in an SQLite file in WAL mode with `synchronous=FULL`: a run killed with
SIGKILL, or a machine losing power, loses nothing it had been answered. Several processes may
write the same file at once (SQLite serialises the writers; each waits up to a minute for the
lock), and a key is written once (`INSERT OR IGNORE`), so nothing is duplicated.

Unscorable verdicts are stored only when the model answered and the answer stayed unparseable
after the re-asks ("unparseable: ..."): asking again at temperature 0 would buy the same reply.
`retry_unscorable=True` asks those again (and replaces them); failed requests (timeouts, HTTP
errors) are never stored, so a later run asks them again.

Written texts (`write`: red-team attacks and rewrites) live in a table of their own, keyed on a
"write" marker, the inner judge, the whole rendered chat and `max_tokens`; failed writes (None)
are not stored either.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hrlaif.errors import HrlaifError
from hrlaif.judge.base import Judge, JudgeStats, OnVerdict, Question
from hrlaif.judge.templates import Templates, template_key
from hrlaif.records import Verdict

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
_LOOKUP_CHUNK = 500
_WRITE_CHUNK = 32


def cacheable_unscorable(verdict: Verdict) -> bool:
    """An unscorable verdict worth keeping: the model did answer, unparseably, after the re-asks."""
    return not verdict.scorable and verdict.reason.startswith("unparseable:")


def judge_identity(judge: Judge) -> dict[str, Any]:
    """What, beside the question, decides a judge's answers: its name and sampling parameters."""
    identity: dict[str, Any] = {"name": judge.name}
    if judge.cache_params is not None:
        identity["params"] = judge.cache_params
    elif judge.seed is not None:  # e.g. the simulated judge, whose name lacks its seed
        identity["seed"] = judge.seed
    return identity


class CachedJudge(Judge):
    """Answers from the cache when it can, asks `inner` only for the misses, stores each answer."""

    def __init__(self, inner: Judge, path: str | Path, retry_unscorable: bool = False) -> None:
        # Judge.__init__ is not called: `stats` is a view over the inner judge's stats.
        self.inner = inner
        self.name = inner.name
        self.path = Path(path)
        self.cache_hits = 0
        self.retry_unscorable = retry_unscorable
        self._identity = judge_identity(inner)
        self._lock = threading.Lock()
        if self.path.is_dir():
            raise HrlaifError(f"{self.path}: judge cache is a directory, expected an SQLite file")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = self._connect()
        except (sqlite3.Error, OSError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise HrlaifError(f"{self.path}: cannot open the judge cache ({reason}); fix or remove it, or set judge.cache_file") from None

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), timeout=60.0, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout=60000")
        # Switching to WAL takes an exclusive lock that SQLite does not wait for (the busy timeout
        # does not cover it), so two processes opening a new cache at once could crash with
        # "database is locked". An OS lock on a file beside the cache serialises that setup; once
        # the file is in WAL (a persistent setting) later openers only read the mode.
        with self.path.with_name(self.path.name + ".setup-lock").open("a") as setup_lock:
            fcntl.flock(setup_lock, fcntl.LOCK_EX)
            mode = db.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("judge cache %s: WAL mode unavailable (journal_mode=%s); concurrent writers will wait longer", self.path, mode)
            db.execute(
                "CREATE TABLE IF NOT EXISTS verdicts ("
                " key TEXT PRIMARY KEY, judge TEXT NOT NULL, task TEXT NOT NULL, template_version TEXT NOT NULL,"
                " verdict TEXT NOT NULL, created REAL NOT NULL)"
            )
            db.execute("CREATE TABLE IF NOT EXISTS writes (key TEXT PRIMARY KEY, judge TEXT NOT NULL, text TEXT NOT NULL, created REAL NOT NULL)")
        db.execute("PRAGMA synchronous=FULL")
        return db

    @property
    def templates(self) -> Templates:  # type: ignore[override]
        return self.inner.templates

    @property
    def stats(self) -> JudgeStats:  # type: ignore[override]
        return self.inner.stats.model_copy(update={"cache_hits": self.inner.stats.cache_hits + self.cache_hits})

    @stats.setter
    def stats(self, value: JudgeStats) -> None:
        self.inner.stats = value.model_copy(update={"cache_hits": 0})
        self.cache_hits = value.cache_hits

    def key(self, question: Question) -> str:
        payload = {
            "format": CACHE_FORMAT,
            "judge": self._identity,
            "template": template_key(self.templates[question.task]),  # the inner judge's template
            "task": question.task,
            "fields": question.fields,
            "context": question.context,
        }
        if question.labels is not None:  # absent otherwise, so keys of questions asked as-is stay as they were
            payload["labels"] = list(question.labels)
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def _lookup(self, keys: list[str]) -> dict[str, Verdict]:
        found: dict[str, Verdict] = {}
        with self._lock:
            for start in range(0, len(keys), _LOOKUP_CHUNK):
                chunk = keys[start : start + _LOOKUP_CHUNK]
                rows = self._db.execute(
                    f"SELECT key, verdict FROM verdicts WHERE key IN ({','.join('?' * len(chunk))})", chunk
                ).fetchall()
                for key, blob in rows:
                    try:
                        verdict = Verdict.model_validate_json(blob)
                    except ValidationError:
                        log.warning("judge cache %s: unreadable row %s…, asking again", self.path, key[:12])
                        continue
                    if verdict.scorable or not self.retry_unscorable:
                        found[key] = verdict
        return found

    def _store(self, key: str, verdict: Verdict) -> None:
        blob = verdict.model_copy(update={"cached": False}).model_dump_json()
        with self._lock:
            self._db.execute(
                ("INSERT OR REPLACE" if verdict.scorable and self.retry_unscorable else "INSERT OR IGNORE")  # a retried answer replaces the unparseable one
                + " INTO verdicts (key, judge, task, template_version, verdict, created) VALUES (?, ?, ?, ?, ?, ?)",
                (key, verdict.judge or self.name, verdict.task, verdict.template_version, blob, time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0])

    def ask(self, questions: list[Question], desc: str = "judging", on_verdict: OnVerdict | None = None) -> list[Verdict]:
        keys = [self.key(q) for q in questions]
        found = self._lookup(list(dict.fromkeys(keys)))
        results: list[Verdict | None] = [None] * len(questions)
        misses: dict[str, list[int]] = {}
        for index, key in enumerate(keys):
            if key in found:
                verdict = found[key].model_copy(update={"cached": True})
                results[index] = verdict
                self.cache_hits += 1
                if on_verdict is not None:
                    on_verdict(index, verdict)
            else:
                misses.setdefault(key, []).append(index)
        if not misses:
            return results  # type: ignore[return-value]

        order = list(misses)  # each distinct question once
        delivered: set[int] = set()

        def arrived(position: int, verdict: Verdict) -> None:
            if position in delivered:
                return
            key = order[position]
            if verdict.scorable or cacheable_unscorable(verdict):
                self._store(key, verdict)
            delivered.add(position)
            for index in misses[key]:
                results[index] = verdict
                if on_verdict is not None:
                    on_verdict(index, verdict)

        answers = self.inner.ask([questions[misses[k][0]] for k in order], desc=desc, on_verdict=arrived)
        for position, verdict in enumerate(answers):  # an inner judge that does not call on_verdict
            arrived(position, verdict)
        return results  # type: ignore[return-value]

    def write_key(self, chat: list[dict], max_tokens: int) -> str:
        payload = {"format": CACHE_FORMAT, "write": True, "judge": self._identity, "chat": chat, "max_tokens": max_tokens}
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def write(self, chats: list[list[dict]], *, max_tokens: int, desc: str = "writing") -> list[str | None]:
        keys = [self.write_key(chat, max_tokens) for chat in chats]
        found: dict[str, str] = {}
        distinct = list(dict.fromkeys(keys))
        with self._lock:
            for start in range(0, len(distinct), _LOOKUP_CHUNK):
                chunk = distinct[start : start + _LOOKUP_CHUNK]
                rows = self._db.execute(f"SELECT key, text FROM writes WHERE key IN ({','.join('?' * len(chunk))})", chunk).fetchall()
                found.update(rows)
        results: list[str | None] = [found.get(k) for k in keys]
        self.cache_hits += sum(k in found for k in keys)
        misses: dict[str, list[int]] = {}
        for index, key in enumerate(keys):
            if key not in found:
                misses.setdefault(key, []).append(index)
        if not misses:
            return results
        order = list(misses)
        texts: list[str | None] = []
        for start in range(0, len(order), _WRITE_CHUNK):  # stored chunk by chunk: a killed run keeps most
            chunk = order[start : start + _WRITE_CHUNK]
            texts += self._write_chunk(chunk, [chats[misses[k][0]] for k in chunk], max_tokens, desc)
        for key, text in zip(order, texts):
            for index in misses[key]:
                results[index] = text
        return results

    def _write_chunk(self, keys: list[str], chats: list[list[dict]], max_tokens: int, desc: str) -> list[str | None]:
        texts = self.inner.write(chats, max_tokens=max_tokens, desc=desc)
        for key, text in zip(keys, texts):
            if text is not None:
                with self._lock:
                    self._db.execute(
                        "INSERT OR IGNORE INTO writes (key, judge, text, created) VALUES (?, ?, ?, ?)",
                        (key, self.name, text, time.time()),
                    )
        return texts

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self.inner.close()
