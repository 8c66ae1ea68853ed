"""The persistent judge cache: reruns are free, template changes re-ask only what changed,
failures are retried, concurrent writers are safe, and a SIGKILL loses no answer."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from hrlaif.config import JudgeConfig, SimulatedJudgeConfig
from hrlaif.judge import build_judge
from hrlaif.judge.base import Question
from hrlaif.judge.cache import CachedJudge
from hrlaif.judge.openai_backend import OpenAIJudge
from hrlaif.judge.simulated import SimulatedJudge
from hrlaif.judge.templates import BUILTIN_TEMPLATES, Templates

from support.fake_openai import FAST, FakeOpenAIServer, expected_choice, fields_of, judge_config, longer_wins, preference_questions

TESTS = Path(__file__).parents[1]  # tests/, where the support package is


def rows(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0]


def acceptable_questions(n: int, tag: str = "p") -> list[Question]:
    return [Question(task="acceptable", fields={"prompt": f"{tag}{i}", "response": "word " * (i % 12)}) for i in range(n)]


def test_rerun_makes_zero_inner_calls(tmp_path) -> None:
    questions = preference_questions(30)
    db = tmp_path / "judge.sqlite"
    with FakeOpenAIServer() as server:
        first = CachedJudge(OpenAIJudge(judge_config(server.base_url), **FAST), db)
        answers = first.ask(questions)
        first.close()
        assert server.count == 30 and rows(db) == 30

        second = CachedJudge(OpenAIJudge(judge_config(server.base_url), **FAST), db)
        seen: list[int] = []
        again = second.ask(questions, on_verdict=lambda i, v: seen.append(i))
        assert server.count == 30, "a rerun must not call the server"
    assert [v.choice for v in again] == [v.choice for v in answers] == [expected_choice(q) for q in questions]
    assert all(v.cached for v in again) and not any(v.cached for v in answers)
    assert sorted(seen) == list(range(30))
    assert second.stats.cache_hits == 30 and second.stats.calls == 0


def test_simulated_inner_judge_is_not_called_on_a_rerun(tmp_path) -> None:
    db = tmp_path / "judge.sqlite"
    questions = acceptable_questions(20)
    CachedJudge(SimulatedJudge(SimulatedJudgeConfig(), seed=1), db).ask(questions)
    inner = SimulatedJudge(SimulatedJudgeConfig(), seed=1)
    CachedJudge(inner, db).ask(questions)
    assert inner.stats.calls == 0
    other_seed = SimulatedJudge(SimulatedJudgeConfig(), seed=2)  # a different judge: its own rows
    CachedJudge(other_seed, db).ask(questions)
    assert other_seed.stats.calls == 20


def test_duplicates_in_one_batch_are_asked_once(tmp_path) -> None:
    questions = preference_questions(5)
    with FakeOpenAIServer() as server:
        judge = CachedJudge(OpenAIJudge(judge_config(server.base_url), **FAST), tmp_path / "judge.sqlite")
        verdicts = judge.ask(questions + questions)
        assert server.count == 5
    assert len(verdicts) == 10 and [v.choice for v in verdicts[:5]] == [v.choice for v in verdicts[5:]]


def test_changed_template_version_reasks_only_that_task(tmp_path) -> None:
    preference, acceptable = preference_questions(12), acceptable_questions(8)
    db = tmp_path / "judge.sqlite"
    with FakeOpenAIServer() as server:
        CachedJudge(OpenAIJudge(judge_config(server.base_url), **FAST), db).ask(preference + acceptable)
        assert server.count == 20
        v2 = Templates([*BUILTIN_TEMPLATES.values(), dataclasses.replace(BUILTIN_TEMPLATES["acceptable"], version="acceptable-v2")])
        judge = CachedJudge(OpenAIJudge(judge_config(server.base_url), templates=v2, **FAST), db)
        verdicts = judge.ask(preference + acceptable)
        asked = server.completions[20:]
    assert len(asked) == 8 and all("<<<data response>>>" in r.prompt for r in asked)
    assert [v.cached for v in verdicts] == [True] * 12 + [False] * 8
    assert {v.template_version for v in verdicts[12:]} == {"acceptable-v2"}
    assert rows(db) == 28


def test_unparseable_is_cached_and_retried_only_when_asked(tmp_path) -> None:
    questions = preference_questions(10)
    broken = {q.fields["prompt"] for q in questions[:3]}

    def answer(body: dict) -> str:
        return "no idea" if fields_of(body)["prompt"] in broken else longer_wins(body)

    db = tmp_path / "judge.sqlite"
    with FakeOpenAIServer(answer=answer) as server:
        first = CachedJudge(OpenAIJudge(judge_config(server.base_url), reask_limit=0, **FAST), db).ask(questions)
        assert [v.scorable for v in first] == [False] * 3 + [True] * 7 and rows(db) == 10
        broken.clear()  # the server got better
        second = CachedJudge(OpenAIJudge(judge_config(server.base_url), reask_limit=0, **FAST), db).ask(questions)
        assert server.count == 10, "a re-run pays for nothing, the unparseable answers included"
        assert [v.scorable for v in second] == [False] * 3 + [True] * 7 and all(v.cached for v in second)
        third = CachedJudge(OpenAIJudge(judge_config(server.base_url), reask_limit=0, **FAST), db, retry_unscorable=True).ask(questions)
        assert server.count == 13, "--retry-unscorable asks only the 3 unparseable items again"
    assert all(v.scorable for v in third) and [v.cached for v in third] == [False] * 3 + [True] * 7
    assert rows(db) == 10


def test_build_judge_wraps_in_the_cache(tmp_path) -> None:
    judge = build_judge(JudgeConfig(backend="simulated"), seed=3, cache_path=tmp_path / "c" / "judge.sqlite")
    assert isinstance(judge, CachedJudge) and isinstance(judge.inner, SimulatedJudge)
    judge.ask(acceptable_questions(4))
    judge.ask(acceptable_questions(4))
    assert judge.stats.cache_hits == 4 and judge.stats.calls == 4


WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from hrlaif.config import SimulatedJudgeConfig
    from hrlaif.judge.base import Question
    from hrlaif.judge.cache import CachedJudge
    from hrlaif.judge.simulated import SimulatedJudge

    db, start, go = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    questions = [Question(task="acceptable", fields={"prompt": f"p{i}", "response": "word " * (i % 12)}) for i in range(start, start + 300)]
    judge = CachedJudge(SimulatedJudge(SimulatedJudgeConfig(), seed=0), db)
    while not go.exists():
        time.sleep(0.01)
    began = time.time()
    for k in range(0, len(questions), 5):
        judge.ask(questions[k:k + 5])
    print(judge.stats.calls, judge.stats.cache_hits, began, time.time())
    """
)


def test_concurrent_writers_do_not_corrupt(tmp_path) -> None:
    db, go = tmp_path / "shared.sqlite", tmp_path / "go"
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(start), str(go)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for start in (0, 150)
    ]
    time.sleep(0.5)
    go.touch()
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    calls = sum(int(out.split()[0]) for out, _ in outputs)
    (a0, a1), (b0, b1) = [map(float, out.split()[2:]) for out, _ in outputs]
    assert a0 < b1 and b0 < a1, "the two writers must have written at the same time"
    assert 450 <= calls <= 600  # the 150 shared questions are asked by one writer or both, never stored twice
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert con.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM verdicts").fetchone() == (450, 450)
    reference = SimulatedJudge(SimulatedJudgeConfig(), seed=0)
    questions = acceptable_questions(450)
    cached = CachedJudge(SimulatedJudge(SimulatedJudgeConfig(), seed=0), db).ask(questions)
    assert all(v.cached for v in cached)
    assert [v.choice for v in cached] == [v.choice for v in reference.ask(questions)]


OPENER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from hrlaif.config import SimulatedJudgeConfig
    from hrlaif.judge.base import Question
    from hrlaif.judge.cache import CachedJudge
    from hrlaif.judge.simulated import SimulatedJudge

    db, go, ready = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    inner = SimulatedJudge(SimulatedJudgeConfig(), seed=0)
    ready.touch()
    while not go.exists():
        time.sleep(0.002)
    judge = CachedJudge(inner, db)  # every process opens the new file at the same moment
    judge.ask([Question(task="acceptable", fields={"prompt": f"p{i}", "response": "ok"}) for i in range(5)])
    print("opened")
    """
)


def test_simultaneous_first_opens_of_a_new_cache(tmp_path) -> None:
    """Switching a new file to WAL must not crash a process that opens it at the same moment."""
    for trial in range(5):
        db, go = tmp_path / f"new{trial}.sqlite", tmp_path / f"go{trial}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", OPENER, str(db), str(go), str(tmp_path / f"ready{trial}-{k}")],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            for k in range(6)
        ]
        deadline = time.monotonic() + 90  # every process waits at the gate before any opens the file
        while len(list(tmp_path.glob(f"ready{trial}-*"))) < len(procs) and time.monotonic() < deadline:
            time.sleep(0.05)
        go.touch()
        outputs = [p.communicate(timeout=120) for p in procs]
        assert all(p.returncode == 0 for p in procs), [err[-800:] for _, err in outputs if err]
        with sqlite3.connect(db) as con:
            assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert con.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0] == 5


LABELER = textwrap.dedent(
    """
    import sys
    from support.fake_openai import FAST, judge_config, preference_questions
    from hrlaif.judge.cache import CachedJudge
    from hrlaif.judge.openai_backend import OpenAIJudge

    url, db, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    judge = CachedJudge(OpenAIJudge(judge_config(url, concurrency=2), **FAST), db)
    judge.ask(preference_questions(n))
    print("finished")
    """
)


def test_sigkill_mid_labeling_loses_nothing_answered(tmp_path) -> None:
    n, db = 40, tmp_path / "judge.sqlite"
    questions = preference_questions(n)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    with FakeOpenAIServer(delay_s=0.05) as server:
        child = subprocess.Popen(
            [sys.executable, "-c", LABELER, server.base_url, str(db), str(n)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + 60
        while server.count < 14 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert child.poll() is None, "the labeler ended before it could be killed: " + child.communicate()[1][-2000:]
        os.kill(child.pid, signal.SIGKILL)
        child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL
        received = server.count
        committed = rows(db)
        assert 0 < committed < n
        assert received - committed <= 2, "only the requests in flight at the kill may be lost"

        judge = CachedJudge(OpenAIJudge(judge_config(server.base_url), **FAST), db)
        cached_before = {q.fields["prompt"].split(":")[0] for q in questions if judge._lookup([judge.key(q)])}
        verdicts = judge.ask(questions)
        rerun = [re.search(r"\b(q\d+): which", r.prompt).group(1) for r in server.completions[received:]]

    assert len(cached_before) == committed
    assert len(rerun) == n - committed, "the rerun asks exactly what was not committed"
    assert not set(rerun) & cached_before, "nothing answered is asked again"
    assert len(set(rerun)) == len(rerun)
    assert sum(v.cached for v in verdicts) == committed
    assert [v.choice for v in verdicts] == [expected_choice(q) for q in questions]
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM verdicts").fetchone() == (n, n)
