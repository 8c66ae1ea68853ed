"""One command at a time on a run directory, with real concurrent processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hrlaif.errors import HrlaifError
from hrlaif.runlock import RunLock

from support.run_configs import pipeline_config as tiny_config

HOLDER = textwrap.dedent(
    """
    import sys, time
    from hrlaif.runlock import RunLock
    lock = RunLock.acquire(sys.argv[1], command="hrlaif holder-for-test")  # kept: a dropped lock is released
    print("locked", flush=True)
    time.sleep(120)
    """
)

ENV = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")


def hold_lock(run_dir: Path) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir)], stdout=subprocess.PIPE, text=True, env=ENV)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def hrlaif(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hrlaif.cli", *args], capture_output=True, text=True, timeout=timeout, env=ENV)


def test_second_command_fails_at_once_naming_the_holder(tmp_path, tiny_model):
    config = tiny_config(tmp_path, tiny_model)
    run_dir = tmp_path / "run"
    holder = hold_lock(run_dir)
    try:
        for args in (["sample", "-c", str(config)], ["label", "-c", str(config), "--set", "label.mode=rlaif"], ["report", str(run_dir)]):
            started = time.monotonic()
            done = hrlaif(*args)
            assert done.returncode == 2, done.stderr
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
            assert f"PID {holder.pid}" in lines[0] and "hrlaif holder-for-test" in lines[0] and str(run_dir) in lines[0]
            assert time.monotonic() - started < 60  # fails at once, does not wait for the holder
        assert not (run_dir / "config.yaml").exists()  # nothing written under the holder's feet
        assert not (run_dir / "sample").exists()
    finally:
        holder.kill()
        holder.wait()


def test_lock_of_a_killed_process_is_taken_over_and_said_so(tmp_path):
    run_dir = tmp_path / "run"
    holder = hold_lock(run_dir)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with RunLock.acquire(run_dir, command="hrlaif next") as lock:
        assert lock.stale_note and f"PID {holder.pid}" in lock.stale_note and "no longer running" in lock.stale_note
    with RunLock.acquire(run_dir) as lock:  # a cleanly released lock is no stale lock
        assert lock.stale_note is None


def test_lock_is_exclusive_within_one_process_and_released(tmp_path):
    with RunLock.acquire(tmp_path / "run", command="first"):
        with pytest.raises(HrlaifError, match=r"in use by PID \d+ \(first\)"):
            RunLock.acquire(tmp_path / "run")
    RunLock.acquire(tmp_path / "run").release()
    (tmp_path / "file").write_text("x")
    with pytest.raises(HrlaifError, match="is a file"):
        RunLock.acquire(tmp_path / "file")
    with pytest.raises(HrlaifError, match="not found"):
        RunLock.acquire(tmp_path / "missing", create=False)
    assert not (tmp_path / "missing").exists()


def test_two_runs_started_together_one_runs_one_refuses(tmp_path, tiny_model):
    """The issue's reproduction: two `hrlaif run` on one directory at the same moment."""
    config = tiny_config(tmp_path, tiny_model)
    command = [sys.executable, "-m", "hrlaif.cli", "run", "-c", str(config), "--set", "label.mode=rlaif", "--set", "ppo.steps=2"]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV) for _ in range(2)]
    outputs = [p.communicate(timeout=1200) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 2], [err[-2000:] for _, err in outputs]
    refused = next(err for p, (_, err) in zip(procs, outputs) if p.returncode == 2)
    assert "in use by PID" in refused and "Traceback" not in refused
    rows = [json.loads(line) for line in (tmp_path / "run" / "ppo-rlaif" / "metrics.jsonl").read_text().splitlines()]
    assert [row["charts/step"] for row in rows] == [1, 2]


def test_judge_check_on_a_locked_run_fails_and_writes_nothing(tmp_path, tiny_model):
    """judge-check writes the run's judge cache (RUN/judge_cache.sqlite), which a running `label`
    writes too: it takes the run's lock like every other writer."""
    config = tiny_config(tmp_path, tiny_model)
    run_dir = tmp_path / "run"
    out = tmp_path / "judge_check.json"
    holder = hold_lock(run_dir)
    try:
        done = hrlaif("judge-check", "-c", str(config), "-o", str(out))
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and f"PID {holder.pid}" in lines[0] and "hrlaif holder-for-test" in lines[0], done.stderr
        assert not out.exists() and sorted(p.name for p in run_dir.iterdir()) == [".lock"]
    finally:
        holder.kill()
        holder.wait()


def test_judge_check_writing_its_output_into_a_locked_run_fails_and_writes_nothing(tmp_path, tiny_model):
    """With its cache outside the run, judge-check still writes into the run when --output is
    there: it takes the lock then too (issue 27: every writer takes the lock)."""
    config = tiny_config(tmp_path, tiny_model)
    run_dir = tmp_path / "run"
    cache = tmp_path / "elsewhere" / "cache.sqlite"
    out = run_dir / "judge_check.json"
    holder = hold_lock(run_dir)
    try:
        done = hrlaif("judge-check", "-c", str(config), "--set", f"judge.cache_file={cache}", "-o", str(out))
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and f"PID {holder.pid}" in lines[0], done.stderr
        assert not out.exists() and not cache.exists() and sorted(p.name for p in run_dir.iterdir()) == [".lock"]
    finally:
        holder.kill()
        holder.wait()


def test_human_eval_writers_on_a_locked_run_fail_and_write_nothing(tmp_path):
    """add-rater, results, import and export open the run's rating store (RUN/human/) and write
    there: each takes the run's lock, so none writes under a running command."""
    from support.human_run import plain_responses, write_eval

    run_dir = write_eval(tmp_path / "run", plain_responses())
    ratings = tmp_path / "ratings.jsonl"
    ratings.write_text("")
    before = sorted(p.relative_to(run_dir) for p in run_dir.rglob("*"))
    holder = hold_lock(run_dir)
    try:
        for args in (["add-rater", str(run_dir), "ann"], ["results", str(run_dir)], ["import", str(run_dir), str(ratings)],
                     ["export", str(run_dir), "-o", str(tmp_path / "out.jsonl")]):
            done = hrlaif("human-eval", *args)
            assert done.returncode == 2, (args, done.stdout, done.stderr)
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and f"PID {holder.pid}" in lines[0] and "hrlaif holder-for-test" in lines[0], done.stderr
            assert "?token=" not in done.stdout
        assert sorted(p.relative_to(run_dir) for p in run_dir.rglob("*")) == sorted([*before, Path(".lock")])  # no human/ store
        assert not (tmp_path / "out.jsonl").exists()
    finally:
        holder.kill()
        holder.wait()
