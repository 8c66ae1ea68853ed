"""`hrlaif label` against a real OpenAI-compatible server on 127.0.0.1, through the real CLI:
kill -9 mid-labeling, a budget that stops the stage, faults, and the API key kept secret."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hrlaif.cli import app

from support.fake_openai import FakeOpenAIServer
from support.run_configs import DROP, write_run_config

KEY = "sk-test-DO-NOT-LEAK-7731"


@pytest.fixture
def sampled_run(tmp_path, tiny_model):
    """A config whose sample stage is done (8 prompts x 3 responses with the tiny policy)."""
    path = write_run_config(tmp_path, tiny_model, sample={"num_samples": 3, "generation": {"batch_size": DROP}},
                            judge={"backend": "openai", "model": "fake-judge", "api_key_env": "HRLAIF_TEST_KEY", "timeout_s": 2,
                                   "concurrency": 2, "max_retries": 3})
    result = CliRunner().invoke(app, ["sample", "-c", str(path)])
    assert result.exit_code == 0, result.output
    return path, tmp_path / "run"


def label_cmd(config: Path, url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "hrlaif.cli", "label", "-c", str(config), "--mode", "rlaif",
            "--set", f"judge.base_urls=[{url}]", *extra]


def env() -> dict:
    return {**os.environ, "HRLAIF_TEST_KEY": KEY, "HF_HUB_OFFLINE": "1"}


def questions_asked(server: FakeOpenAIServer) -> list[str]:
    return [r.prompt for r in server.completions]


def assert_secret_absent(folder: Path, *texts: str) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), f"API key leaked into {path}"
    for text in texts:
        assert KEY not in text


def test_kill_minus_9_mid_labeling_then_rerun_loses_and_duplicates_nothing(sampled_run):
    config, run = sampled_run
    with FakeOpenAIServer(delay_s=0.15) as server:
        child = subprocess.Popen(label_cmd(config, server.base_url), env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while server.count < 8 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert child.poll() is None, child.communicate()[1][-2000:]
        os.kill(child.pid, signal.SIGKILL)
        _, err1 = child.communicate(timeout=30)
        killed_at = server.count
        assert not (run / "label-rlaif" / "manifest.json").exists()
        assert not (run / "label-rlaif" / "pairs.jsonl").exists()
        done = subprocess.run(label_cmd(config, server.base_url), env=env(), capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        asked = questions_asked(server)
        assert server.auth_headers() == {f"Bearer {KEY}"}
    manifest = json.loads((run / "label-rlaif" / "manifest.json").read_text())
    unique = len(set(asked))
    assert manifest["counts"]["candidates"] * 2 == unique  # every question answered once, in the end
    assert len(asked) - unique <= 2, "only the requests in flight at the kill may be paid twice"
    assert manifest["judge"]["cache_hits"] >= killed_at - 2
    pairs = (run / "label-rlaif" / "pairs.jsonl").read_text().splitlines()
    assert len(pairs) == manifest["counts"]["pairs"] > 0
    assert_secret_absent(run, err1, done.stdout, done.stderr)


def test_budget_stops_cleanly_and_a_larger_budget_carries_on(sampled_run):
    config, run = sampled_run
    with FakeOpenAIServer() as server:
        stopped = subprocess.run(label_cmd(config, server.base_url, "--set", "judge.budget.max_calls=5"),
                                 env=env(), capture_output=True, text=True, timeout=300)
        assert stopped.returncode == 2, stopped.stderr[-3000:]
        assert "budget" in stopped.stderr and "max_calls" in stopped.stderr
        assert server.count == 5
        assert not (run / "label-rlaif" / "pairs.jsonl").exists()
        done = subprocess.run(label_cmd(config, server.base_url, "--set", "judge.budget.max_calls=1000"),
                              env=env(), capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        asked = questions_asked(server)
    assert len(asked) == len(set(asked)), "no answer paid twice"
    manifest = json.loads((run / "label-rlaif" / "manifest.json").read_text())
    assert manifest["judge"]["cache_hits"] == 5 and manifest["judge"]["calls"] == len(asked) - 5
    assert_secret_absent(run, stopped.stdout, stopped.stderr, done.stdout, done.stderr)


def test_faults_end_as_verdicts_or_unscorable_and_counts_add_up(sampled_run):
    config, run = sampled_run
    with FakeOpenAIServer(faults={"500": 0.15, "429": 0.1, "garbage": 0.15}, retry_after=0) as server:
        done = subprocess.run(label_cmd(config, server.base_url, "--set", "judge.max_retries=1"),
                              env=env(), capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        assert sum(server.faults_seen().values()) > 0
    counts = json.loads((run / "label-rlaif" / "manifest.json").read_text())["counts"]
    outcomes = sum(counts.get(k, 0) for k in ("agree", "soft", "tie", "unscorable"))
    assert outcomes == counts["candidates"]
    assert counts["pairs"] == counts.get("agree", 0) + counts.get("soft", 0)
