"""The API key is never written anywhere, not even in part (issue 27): `hrlaif sample` with a served
policy, then `hrlaif label`, `hrlaif judge-check` (the exam) and `hrlaif redteam` (written attacks
and rewrites, the served policy's answers) with the openai judge run through the CLI against fake servers on
127.0.0.1 (tests/support/fake_openai.py: a policy and a judge) answering in one mode each, with a
canary key read from a key file; then the run directory (samples, judge cache, manifests), the
output and every log record are searched for any 8 characters of the key."""

from __future__ import annotations

import logging
import secrets
import string
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hrlaif.cli import app
from hrlaif.redact import FRAGMENT, scrub

from support.fake_openai import FakeOpenAIServer
from support.run_configs import DROP, write_run_config

KEY = "sk-canary-" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))


def fragments(key: str = KEY) -> list[str]:
    return [key[i : i + FRAGMENT] for i in range(len(key) - FRAGMENT + 1)]


def leaks(text: str | bytes) -> list[str]:
    """The 8-character pieces of the key found in `text`, also once its whitespace is taken out
    (a terminal wraps a long error line, which can split the key; the key has no whitespace)."""
    blob = text.encode() if isinstance(text, str) else text
    joined = b"".join(blob.split())
    return [piece for piece in fragments() if piece.encode() in blob or piece.encode() in joined]


# (served policy's mode, judge's mode): see the fault lists of the two servers
MODES = {
    "success": ("ok", {}),
    "401": ("401", {"401": 1.0}),
    "5xx": ("503", {"500": 1.0}),
    "garbage body": ("garbage", {"malformed": 1.0}),
    "unparseable verdict": ("ok", {"garbage": 1.0}),
    "echo in completion": ("echo", {"echo_text": 1.0}),
    "echo in 400 body": ("echo_400", {"echo_400": 1.0}),
    "echo in 401 body": ("echo_401", {"echo_401": 1.0}),
    "echo in 5xx body": ("echo_503", {"echo_500": 1.0}),
}
RETRIED = {"500", "malformed", "echo_500"}


def test_scrub_takes_the_key_and_every_run_of_8_of_its_characters() -> None:
    key = "sk-canary-" + "a1b2c3d4e5" * 4
    assert scrub(f"Bearer {key}!", key) == "Bearer <redacted>!"
    assert scrub(f"Bearer {key}"[:40], key) == "Bearer <redacted>", "a key cut by a limit"
    assert scrub(f"x{key[12:20]}y{key[:7]}", key) == f"x<redacted>y{key[:7]}", "8 characters go, 7 stay"
    assert scrub("no key here", key) == "no key here"
    assert scrub("none of it", "none") == "none of it" and scrub("a b", "") == "a b"


@pytest.mark.parametrize("mode", list(MODES))
def test_no_part_of_the_key_is_written_in_any_server_mode(mode: str, tiny_model: Path, tmp_path: Path,
                                                          tmp_path_factory, caplog, capfd) -> None:
    policy_fault, judge_faults = MODES[mode]
    caplog.set_level(logging.DEBUG)  # everything: openai, httpx, httpcore, ours
    key_file = tmp_path_factory.mktemp("key") / "canary"  # outside the searched folder
    key_file.write_text(KEY + "\n")
    config = write_run_config(
        tmp_path, tiny_model, data={"max_train_prompts": 3}, sample={"num_samples": 2, "generation": {"max_new_tokens": 4, "batch_size": DROP}},
        policy={"backend": "openai", "server": {"api_key_file": str(key_file), "max_retries": 1, "timeout_s": 30}},
        judge={"backend": "openai", "model": "fake-judge", "api_key_file": str(key_file), "max_retries": 1, "timeout_s": 30,
               "concurrency": 4},
        judge_check={"per_answer": 2},
        redteam={"num_generated": 4, "max_attacks": 4, "num_samples": 2, "generation": {"max_new_tokens": 4}, "rewrite_max_tokens": 16},
    )
    runner = CliRunner()
    outputs: list[str] = []

    def invoke(args: list[str]):
        result = runner.invoke(app, [*args, "-c", str(config)])
        outputs.append(result.output + repr(result.exception) + getattr(result, "stderr", ""))
        return result

    with FakeOpenAIServer(model="served-policy", fault=policy_fault) as policy, FakeOpenAIServer(model="served-policy") as healthy, FakeOpenAIServer(faults=judge_faults) as judge:
        sampled = invoke(["sample", "--set", f"policy.server.base_urls=[{policy.base_url}]"])
        if sampled.exit_code != 0:  # the policy server refused: sample elsewhere, so the judge is asked
            assert policy_fault != "ok" and "echo" != policy_fault, outputs[-1]
            assert invoke(["sample", "--set", f"policy.server.base_urls=[{healthy.base_url}]"]).exit_code == 0, outputs[-1]
        else:
            assert policy_fault in ("ok", "echo"), outputs[-1]
        invoke(["label", "--mode", "rlaif", "--set", f"judge.base_urls=[{judge.base_url}]"])
        # the judge's other paths: its exam (judge-check) and written texts (red-team attacks and
        # rewrites). Not where every request is retried (5xx, bodies that are not JSON): label has
        # taken that path (the same pool, its messages carry no server text but the scrubbed
        # message), and its backoff and cooldowns would take minutes here.
        if not RETRIED & set(judge_faults):
            invoke(["judge-check", "-o", str(tmp_path / "judge_check.json"), "--set", f"judge.base_urls=[{judge.base_url}]"])
            served = policy.base_url if sampled.exit_code == 0 else healthy.base_url
            invoke(["redteam", "--set", f"judge.base_urls=[{judge.base_url}]", "--set", f"policy.server.base_urls=[{served}]"])
        auth = {e["auth"] for e in policy.log} | {r.auth for r in judge.completions}
        faults_seen = {e["fault"] for e in policy.log} | set(judge.faults_seen())

    # each server was asked with the key, in the mode under test
    assert auth == {f"Bearer {KEY}"}
    assert {policy_fault, *judge_faults} <= faults_seen | {"ok"}
    run = tmp_path / "run"
    assert (run / "judge_cache.sqlite").exists() or judge_faults.get("401") or judge_faults.get("echo_401")
    found = {}
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) >= 4
    for path in files:
        if hits := leaks(path.read_bytes()):
            found[str(path.relative_to(tmp_path))] = hits
    for index, output in enumerate(outputs):
        if hits := leaks(output):
            found[f"cli output {index}"] = hits
    for record in caplog.records:
        if hits := leaks(record.getMessage()):
            found[f"log {record.name}"] = hits
    out, err = capfd.readouterr()
    if hits := leaks(out + err):
        found["stdout/stderr"] = hits
    assert not found, f"pieces of the key written: { {where: (len(hits), hits[0]) for where, hits in found.items()} }"
    if mode == "echo in completion":
        assert "<redacted>" in (run / "sample" / "samples.jsonl").read_text(), "the echoed key was stored, scrubbed"
        assert "<redacted>" in (run / "redteam" / "attacks.jsonl").read_text(), "a written attack echoing the key, scrubbed"
    if not RETRIED & set(judge_faults) and not {"401", "echo_401"} & set(judge_faults):
        assert (tmp_path / "judge_check.json").is_file() and (run / "redteam" / "manifest.json").is_file(), "the exam and red teaming ran"
