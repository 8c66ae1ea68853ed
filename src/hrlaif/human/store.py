"""The ratings database (RUN/human/ratings.sqlite): raters, items, assignments, ratings.

Every answer is its own committed transaction in WAL mode with synchronous=FULL, written
before the rater's browser is told it was saved, so a server killed with SIGKILL (or a power
cut) loses no answer it acknowledged. Raters are known by the SHA-256 of their token only.

Items are spread over raters: each item wants `raters_per_item` answers; the next item for a
rater is one they have never been given, among those with the fewest answers plus open
assignments (a lease, so two raters working at once do not both take the last slot). A rater's
open assignment survives restarts, so a returning rater continues on the same item. Pairwise
items tied by construction (identical texts) are never assigned. A rater may take back their last
answer (`undo`): it is deleted and its item becomes their open one again, in the same screen order.
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from hrlaif.errors import HrlaifError
from hrlaif.human.items import PAIRWISE, SATISFACTION, START, Item, eval_fingerprint, item_aliases, load_items
from hrlaif.run_dir import RunDir

DEFAULT_RATERS_PER_ITEM = 3  # three answers give a majority without ties, and an inter-rater figure
LEASE_SECONDS = 30 * 60  # an unanswered assignment holds its slot this long against other raters
SKIP = "skip"
ITEMS_VERSION = "2"  # 2: repeated texts share a satisfaction item, identical pairs are tied without raters
MAX_NAME_CHARS = 80

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL, kind TEXT NOT NULL, prompt_id TEXT NOT NULL,
    category TEXT NOT NULL, policy TEXT NOT NULL, payload TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS raters (
    id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, token_hash TEXT UNIQUE, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS assignments (
    rater_id INTEGER NOT NULL REFERENCES raters(id), item_id INTEGER NOT NULL REFERENCES items(id),
    first TEXT, assigned_at REAL NOT NULL, PRIMARY KEY (rater_id, item_id));
CREATE TABLE IF NOT EXISTS ratings (
    id INTEGER PRIMARY KEY, rater_id INTEGER NOT NULL REFERENCES raters(id), item_id INTEGER NOT NULL REFERENCES items(id),
    answer TEXT NOT NULL, choice TEXT NOT NULL, first TEXT, seconds REAL, created_at TEXT NOT NULL,
    UNIQUE (rater_id, item_id));
"""


def token_hash(token: str) -> str:
    """Tokens are 192 random bits, so one unsalted SHA-256 is enough to keep them out of the file."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def store_path(run_dir: Path) -> Path:
    return RunDir(run_dir).human_ratings


@dataclass
class Rater:
    id: int
    name: str


@dataclass
class Assignment:
    item_id: int
    item: Item
    first: str | None  # pairwise: the policy shown as "Response 1"


@dataclass
class Progress:
    answered: int  # answers that count (skips are not answers)
    skipped: int
    remaining: int  # items this rater may still be given, the current one included

    @property
    def done(self) -> int:
        """Items the rater is through with, answered or skipped (what the progress bar fills)."""
        return self.answered + self.skipped


@dataclass
class LastAnswer:
    rating_id: int
    item_id: int
    choice: str


class RatingStore:
    """One run's ratings. Open with `RatingStore.open(run_dir)`; methods are safe from many threads
    (each call uses its own connection)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise HrlaifError(f"{self.path}: a folder where the ratings database belongs; move it away")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HrlaifError(f"{self.path.parent}: cannot create the ratings folder ({exc.strerror or exc})") from None
        with self._connect() as db:
            db.executescript(SCHEMA)
            db.execute("INSERT OR IGNORE INTO meta VALUES ('store_id', ?)", (secrets.token_hex(8),))
            db.execute("INSERT OR IGNORE INTO meta VALUES ('raters_per_item', ?)", (str(DEFAULT_RATERS_PER_ITEM),))

    @classmethod
    def open(cls, run_dir: Path) -> RatingStore:
        """The store of `run_dir`, with its items in step with RUN/eval/ (loaded on first use)."""
        store = cls(store_path(run_dir))
        store.sync_items(run_dir)
        return store

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._failure(exc) from None
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            yield db
        except sqlite3.Error as exc:
            raise self._failure(exc) from None
        finally:
            db.close()

    def _failure(self, exc: sqlite3.Error) -> HrlaifError:
        """What SQLite's error means for this file, named (the generic sqlite3 messages name none)."""
        text = str(exc)
        if "disk is full" in text or "disk I/O" in text:
            return HrlaifError(f"{self.path}: disk full; this change to the ratings was not saved (ratings saved before are kept)")
        if "not a database" in text or "malformed" in text:
            return HrlaifError(f"{self.path}: not a ratings database hrlaif can read ({text}); move it away, or restore it from a backup")
        return HrlaifError(f"{self.path}: the ratings database failed ({type(exc).__name__}: {text})")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT: the write lock is taken up front, so read-then-write is atomic."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # ---------------------------------------------------------------- meta and items

    def meta(self, key: str) -> str | None:
        with self._connect() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    @property
    def raters_per_item(self) -> int:
        return int(self.meta("raters_per_item") or DEFAULT_RATERS_PER_ITEM)

    def set_raters_per_item(self, count: int) -> None:
        if count < 1:
            raise HrlaifError(f"--raters-per-item must be at least 1, got {count}")
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('raters_per_item', ?)", (str(count),))

    def sync_items(self, run_dir: Path) -> None:
        """Load the items of RUN/eval/ once. If the responses changed after rating began, refuse:
        the ratings would silently describe texts nobody saw. A store whose items were built by an
        older hrlaif keeps them once rating began (same texts, one item per policy)."""
        texts = eval_fingerprint(run_dir)
        fingerprint = f"{texts}/items-v{ITEMS_VERSION}"
        if self.meta("eval_fingerprint") in (fingerprint, texts):
            if self.meta("eval_fingerprint") == fingerprint or self._rated():
                return
        with self._transaction() as db:
            if db.execute("SELECT count(*) FROM ratings").fetchone()[0]:
                raise HrlaifError(
                    f"{RunDir(run_dir).eval}: the evaluation responses changed after rating began; "
                    f"{self.path} rates the old ones (export them, then move {self.path.parent} away to start over)")
            db.execute("DELETE FROM assignments")
            db.execute("DELETE FROM items")
            db.executemany(
                "INSERT INTO items (key, kind, prompt_id, category, policy, payload) VALUES (?, ?, ?, ?, ?, ?)",
                [(i.key, i.kind, i.prompt_id, i.category, i.policy, json.dumps(i.payload, ensure_ascii=False)) for i in load_items(run_dir)],
            )
            db.execute("INSERT OR REPLACE INTO meta VALUES ('eval_fingerprint', ?)", (fingerprint,))

    def _rated(self) -> bool:
        with self._connect() as db:
            return db.execute("SELECT count(*) FROM ratings").fetchone()[0] > 0

    def items(self) -> dict[int, Item]:
        with self._connect() as db:
            rows = db.execute("SELECT id, key, kind, prompt_id, category, policy, payload FROM items ORDER BY id").fetchall()
        return {r[0]: Item(r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in rows}

    def item_counts(self) -> dict[str, int]:
        """Items by kind, and "shared" (satisfaction texts of several policies) and "tied" (identical
        pairs, not shown)."""
        counts = {SATISFACTION: 0, PAIRWISE: 0, "shared": 0, "tied": 0}
        for item in self.items().values():
            counts[item.kind] += 1
            counts["shared"] += len(item.policies) > 1 if item.kind == SATISFACTION else 0
            counts["tied"] += item.auto is not None
        return counts

    # ---------------------------------------------------------------- raters

    def add_rater(self, name: str, new_token: bool = False) -> str:
        """Create rater `name` (or give them a new token) and return the token; only its hash is kept."""
        name = rater_name(name)
        token = secrets.token_urlsafe(24)
        with self._transaction() as db:
            exists = db.execute("SELECT id FROM raters WHERE name = ?", (name,)).fetchone()
            if exists and not new_token:
                raise HrlaifError(f"rater '{name}' already exists; pass --new-token to replace their link")
            if exists:
                db.execute("UPDATE raters SET token_hash = ? WHERE id = ?", (token_hash(token), exists[0]))
            else:
                db.execute("INSERT INTO raters (name, token_hash, created_at) VALUES (?, ?, ?)", (name, token_hash(token), _now()))
        return token

    def rater_for_token(self, token: str | None) -> Rater | None:
        if not token:
            return None
        with self._connect() as db:
            row = db.execute("SELECT id, name FROM raters WHERE token_hash = ?", (token_hash(token),)).fetchone()
        return Rater(*row) if row else None

    def raters(self) -> dict[int, str]:
        with self._connect() as db:
            return dict(db.execute("SELECT id, name FROM raters").fetchall())

    # ---------------------------------------------------------------- assignment

    def current(self, rater: Rater) -> Assignment | None:
        """The rater's open item (kept across restarts), else a newly assigned one; None when done."""
        k = self.raters_per_item
        now = time.time()
        with self._transaction() as db:
            answers = dict(db.execute("SELECT item_id, count(*) FROM ratings WHERE answer != ? GROUP BY item_id", (SKIP,)).fetchall())
            open_row = db.execute(
                "SELECT a.item_id, a.first FROM assignments a LEFT JOIN ratings r ON r.rater_id = a.rater_id AND r.item_id = a.item_id "
                "WHERE a.rater_id = ? AND r.id IS NULL ORDER BY a.assigned_at DESC LIMIT 1", (rater.id,)).fetchone()
            if open_row and answers.get(open_row[0], 0) < k:
                return self._assignment(db, *open_row)
            if open_row:  # others filled it meanwhile: let it go
                db.execute("DELETE FROM assignments WHERE rater_id = ? AND item_id = ?", (rater.id, open_row[0]))
            candidates = self._candidates(db, rater, k, now, answers)
            if not candidates:
                return None
            item_id, kind = candidates[0]
            first = None
            if kind == PAIRWISE:  # a fresh coin per rater and item: position bias cancels over raters
                policy = db.execute("SELECT policy FROM items WHERE id = ?", (item_id,)).fetchone()[0]
                first = secrets.choice([START, policy])
            db.execute("INSERT INTO assignments VALUES (?, ?, ?, ?)", (rater.id, item_id, first, now))
            return self._assignment(db, item_id, first)

    def _candidates(self, db: sqlite3.Connection, rater: Rater, k: int, now: float, answers: dict[int, int]) -> list[tuple[int, str]]:
        """Items the rater was never given and that still want answers, fewest (answers + leases) first;
        ties broken in an order of the rater's own, so raters working at once spread out."""
        leased: dict[int, int] = dict(db.execute(
            "SELECT a.item_id, count(*) FROM assignments a LEFT JOIN ratings r ON r.rater_id = a.rater_id AND r.item_id = a.item_id "
            "WHERE r.id IS NULL AND a.assigned_at > ? GROUP BY a.item_id", (now - LEASE_SECONDS,)).fetchall())
        seen = {r[0] for r in db.execute("SELECT item_id FROM assignments WHERE rater_id = ?", (rater.id,))}
        seen |= {r[0] for r in db.execute("SELECT item_id FROM ratings WHERE rater_id = ?", (rater.id,))}
        rows = db.execute("SELECT id, kind FROM items WHERE json_extract(payload, '$.auto') IS NULL ORDER BY id").fetchall()
        order = list(range(len(rows)))
        random.Random(rater.id).shuffle(order)
        rank = {row[0]: order[i] for i, row in enumerate(rows)}
        wanted = [(row, answers.get(row[0], 0) + leased.get(row[0], 0)) for row in rows if row[0] not in seen]
        wanted = [(row, load) for row, load in wanted if load < k]
        wanted.sort(key=lambda x: (x[1], rank[x[0][0]]))
        return [row for row, _ in wanted]

    def _assignment(self, db: sqlite3.Connection, item_id: int, first: str | None) -> Assignment:
        r = db.execute("SELECT key, kind, prompt_id, category, policy, payload FROM items WHERE id = ?", (item_id,)).fetchone()
        return Assignment(item_id, Item(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])), first)

    def progress(self, rater: Rater) -> Progress:
        k = self.raters_per_item
        with self._connect() as db:
            skipped, answered = (db.execute("SELECT count(*) FROM ratings WHERE rater_id = ? AND answer = ?", (rater.id, SKIP)).fetchone()[0],
                                 db.execute("SELECT count(*) FROM ratings WHERE rater_id = ? AND answer != ?", (rater.id, SKIP)).fetchone()[0])
            answers = dict(db.execute("SELECT item_id, count(*) FROM ratings WHERE answer != ? GROUP BY item_id", (SKIP,)).fetchall())
            remaining = len(self._candidates(db, rater, k, time.time(), answers))
            has_open = db.execute(
                "SELECT count(*) FROM assignments a LEFT JOIN ratings r ON r.rater_id = a.rater_id AND r.item_id = a.item_id "
                "WHERE a.rater_id = ? AND r.id IS NULL", (rater.id,)).fetchone()[0]
        return Progress(answered=answered, skipped=skipped, remaining=remaining + has_open)

    # ---------------------------------------------------------------- first visit

    def welcomed(self, rater: Rater) -> bool:
        """Whether the rater has read the instructions (shown on their first visit)."""
        return self.meta(f"welcomed/{rater.id}") is not None

    def set_welcomed(self, rater: Rater) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (f"welcomed/{rater.id}", _now()))

    # ---------------------------------------------------------------- answers

    def record(self, rater: Rater, item_id: int, choice: str) -> bool:
        """Commit the rater's answer to their open item. `choice` is what they pressed: yes/no for
        satisfaction, 1/2/tie for pairwise, or skip. Returns False (and stores nothing) for an item
        that is not their open one, e.g. a second press of the same key."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT a.first, a.assigned_at, i.kind, i.policy FROM assignments a JOIN items i ON i.id = a.item_id "
                "LEFT JOIN ratings r ON r.rater_id = a.rater_id AND r.item_id = a.item_id "
                "WHERE a.rater_id = ? AND a.item_id = ? AND r.id IS NULL", (rater.id, item_id)).fetchone()
            if row is None:
                return False
            first, assigned_at, kind, policy = row
            answer = answer_for(kind, policy, first, choice)
            db.execute(
                "INSERT INTO ratings (rater_id, item_id, answer, choice, first, seconds, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (rater.id, item_id, answer, choice, first, round(time.time() - assigned_at, 3), _now()))
        return True

    def answer_of(self, rater: Rater, item_id: int) -> str | None:
        """The choice the rater stored for an item, or None."""
        with self._connect() as db:
            row = db.execute("SELECT choice FROM ratings WHERE rater_id = ? AND item_id = ?", (rater.id, item_id)).fetchone()
        return row[0] if row else None

    def last_answer(self, rater: Rater) -> LastAnswer | None:
        """The rater's most recent answer (what `undo` would take back)."""
        with self._connect() as db:
            row = db.execute("SELECT id, item_id, choice FROM ratings WHERE rater_id = ? ORDER BY id DESC LIMIT 1", (rater.id,)).fetchone()
        return LastAnswer(*row) if row else None

    def undo(self, rater: Rater, rating_id: int) -> bool:
        """Take back the rater's answer `rating_id` if it is still their last one: delete it and make its
        item their open one again (same screen order, timing restarted). False, and nothing changes,
        when it is not (a second press of undo, or an answer from another tab)."""
        with self._transaction() as db:
            last = db.execute("SELECT id, item_id FROM ratings WHERE rater_id = ? ORDER BY id DESC LIMIT 1", (rater.id,)).fetchone()
            if last is None or last[0] != rating_id:
                return False
            db.execute("DELETE FROM ratings WHERE id = ?", (rating_id,))
            db.execute("UPDATE assignments SET assigned_at = ? WHERE rater_id = ? AND item_id = ?", (time.time(), rater.id, last[1]))
        return True

    def ratings(self) -> list[dict]:
        """Every rating with its rater's name and its item, oldest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT rt.name, i.key, i.kind, i.prompt_id, i.category, i.policy, r.answer, r.choice, r.first, r.seconds, "
                "r.created_at, i.payload FROM ratings r JOIN raters rt ON rt.id = r.rater_id JOIN items i ON i.id = r.item_id ORDER BY r.id"
            ).fetchall()
        names = ("rater", "item", "kind", "prompt_id", "category", "policy", "answer", "choice", "first", "seconds", "created_at")
        out = []
        for r in rows:
            payload = json.loads(r[-1])
            out.append(dict(zip(names, r[:-1])) | {"policies": payload.get("policies") or [r[5]], "digest": payload["digest"]})
        return out

    def import_ratings(self, rows: Iterable[tuple[str, dict]]) -> tuple[int, int]:
        """Add exported ratings ("file:line", record). Raters new to this store are created without a
        token (they cannot log in here). Returns (added, already present); a conflicting answer or an
        item whose text differs here is an error naming the line, and nothing is added."""
        added = present = 0
        with self._transaction() as db:
            items = {}
            for key, item_id, kind, prompt_id, category, policy, payload in db.execute("SELECT key, id, kind, prompt_id, category, policy, payload FROM items"):
                item = Item(key, kind, prompt_id, category, policy, json.loads(payload))
                items |= {alias: (item_id, kind, policy, item.payload["digest"]) for alias in item_aliases(item)}
            for where, rec in rows:
                _check_imported(where, rec)
                if rec["item"] not in items:
                    raise HrlaifError(f"{where}: item '{rec['item']}' is not in this run's evaluation")
                item_id, kind, policy, digest = items[rec["item"]]
                if rec["digest"] != digest:
                    raise HrlaifError(f"{where}: item '{rec['item']}' was rated on different response text than this run's")
                first = rec.get("first")
                try:
                    answer = answer_for(kind, policy, first, rec["choice"])
                except HrlaifError as exc:
                    raise HrlaifError(f"{where}: {exc}") from None
                db.execute("INSERT OR IGNORE INTO raters (name, token_hash, created_at) VALUES (?, NULL, ?)", (rec["rater"], _now()))
                rater_id = db.execute("SELECT id FROM raters WHERE name = ?", (rec["rater"],)).fetchone()[0]
                old = db.execute("SELECT answer FROM ratings WHERE rater_id = ? AND item_id = ?", (rater_id, item_id)).fetchone()
                if old is not None:
                    if old[0] != answer:
                        raise HrlaifError(f"{where}: rater '{rec['rater']}' already answered '{rec['item']}' differently here ({old[0]})")
                    present += 1
                    continue
                db.execute("INSERT OR IGNORE INTO assignments VALUES (?, ?, ?, ?)", (rater_id, item_id, first, time.time()))
                db.execute(
                    "INSERT INTO ratings (rater_id, item_id, answer, choice, first, seconds, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (rater_id, item_id, answer, rec["choice"], first, rec.get("seconds"), rec.get("created_at") or _now()))
                added += 1
        return added, present


def rater_name(name: str) -> str:
    """A rater's name as stored: trimmed, 1 to 80 characters (it heads the exports and results)."""
    name = name.strip()
    if not name or len(name) > MAX_NAME_CHARS:
        raise HrlaifError(f"rater name: give 1 to {MAX_NAME_CHARS} characters, got {len(name)}")
    return name


def _check_imported(where: str, rec: dict) -> None:
    """An exported rating's fields, as `ratings()` writes them: what the store would refuse or
    mis-store (a list bound as a number, a name no rater could have) is an error naming the line."""
    missing = [f for f in ("rater", "item", "choice", "digest") if not isinstance(rec.get(f), str)]
    if missing:
        raise HrlaifError(f"{where}: missing or non-string field(s) {', '.join(missing)}")
    for key in ("first", "created_at"):
        if rec.get(key) is not None and not isinstance(rec[key], str):
            raise HrlaifError(f"{where}: field '{key}' must be a string or null, got {type(rec[key]).__name__}")
    seconds = rec.get("seconds")
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds < 1e9):
        raise HrlaifError(f"{where}: field 'seconds' must be a number of seconds from 0, or null; got {json.dumps(seconds)[:40]}")
    try:
        rec["rater"] = rater_name(rec["rater"])
    except HrlaifError as exc:
        raise HrlaifError(f"{where}: field 'rater': {exc}") from None


def answer_for(kind: str, policy: str, first: str | None, choice: str) -> str:
    """What a pressed choice means. Satisfaction: yes / no / skip. Pairwise: the winning policy's
    name, "tie" or "skip" (choice 1 or 2 names a screen position; `first` says which policy was there)."""
    if choice == SKIP:
        return SKIP
    if kind == SATISFACTION and choice in ("yes", "no"):
        return choice
    if kind == PAIRWISE and choice == "tie":
        return "tie"
    if kind == PAIRWISE and choice in ("1", "2") and first in (START, policy):
        second = policy if first == START else START
        return first if choice == "1" else second
    raise HrlaifError(f"choice '{choice}' is not an answer to a {kind} item")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
