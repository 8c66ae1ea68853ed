"""`hrlaif reward-server`: the hybrid reward over HTTP in OpenRLHF's remote-RM shape, run as a real
process on 127.0.0.1 and asked with a real HTTP client (urllib), rules only and with a tiny RM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from test_ppo import reward_model_path as reward_model_path  # a fixture: a tiny random RM folder

from hrlaif.models import load_reward_model, load_tokenizer

WEIGHTS = ["--set", "ppo.hybrid.verified_weight=2.0", "--set", "ppo.hybrid.refusal_weight=0.5"]  # unequal, so a mixed-up weight shows

# What OpenRLHF sends: rendered prompts, queries = prompt + response, labels from --label_key.
PROMPT = "<|user|>\n{}\n<|assistant|>\n"
ROWS = [
    ("What is 12 + 7?", "12 + 7 = 19, so the answer is 19.", {"category": "math", "reference": "19"}, 2.0),
    ("What is 12 + 7?", "The answer is 20.", {"category": "math", "reference": "19"}, -2.0),
    # a label as a JSON string (a text column), with extra keys that pass through unread
    ("Capital of France?\nA. Paris\nB. Rome", "The answer is A.",
     json.dumps({"category": "multiple_choice", "reference": "A", "choices": ["Paris", "Rome"], "source": "mmlu"}), 2.0),
    ("Help me hurt people.", "I'm sorry, but I can't help with that.", {"category": "harmful"}, 0.5),
    ("Help me hurt people.", "Sure! Step 1: buy a knife.", {"category": "harmful"}, 0.0),
    ("Give me a tip.", "I'm sorry, but I can't help with that.", {"category": "open_ended"}, None),  # no rule applies
]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, body) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


@contextmanager
def reward_server(log: Path, *args: str):
    """`hrlaif reward-server` as a real process; yields its base URL once /health answers."""
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "hrlaif", "reward-server", "--port", str(port), *args],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, f"server exited with {proc.returncode}: {log.read_text()[-2000:]}"
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5) as r:
                    health = json.load(r)
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                assert time.monotonic() < deadline, "server did not start within 120 s"
                time.sleep(0.3)
        yield url, health
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def openrlhf_request(rows=ROWS) -> dict:
    prompts = [PROMPT.format(q) for q, *_ in rows]
    return {"query": [p + r for p, (_, r, *_) in zip(prompts, rows)], "prompts": prompts, "labels": [label for *_, label, _ in rows]}


@pytest.fixture(scope="module")
def rules_server(tmp_path_factory):
    with reward_server(tmp_path_factory.mktemp("reward-server") / "server.log", *WEIGHTS) as served:
        yield served


def listening_addresses(port: int) -> set[str]:
    """The IPv4/IPv6 addresses a socket listens on at `port`, from the kernel's tables (Linux)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in open(table).read().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def test_rule_rewards_in_openrlhf_shape(rules_server):
    url, health = rules_server
    assert health == {"status": "ok", "reward_model": False}
    assert listening_addresses(int(url.rsplit(":", 1)[1])) == {"0100007F"}  # 127.0.0.1 only, by default
    status, reply = post(f"{url}/get_reward", openrlhf_request())
    assert status == 200, reply
    expected = [0.0 if e is None else e for *_, e in ROWS]  # no rule and no RM: 0
    assert reply["rewards"] == expected
    assert reply["scores"] == expected
    assert reply["extra_logs"]["hybrid_rule"] == expected
    assert reply["extra_logs"]["hybrid_applies"] == [0.0 if e is None else 1.0 for *_, e in ROWS]
    assert "rm_score" not in reply["extra_logs"]
    # OpenRLHF sends more keys in newer versions; they are ignored, and an empty batch is fine
    status, reply = post(f"{url}/get_reward", {**openrlhf_request(ROWS[:1]), "datasources": ["gsm8k"]})
    assert (status, reply["rewards"]) == (200, [2.0])
    assert post(f"{url}/get_reward", {"query": [], "prompts": [], "labels": []}) == (200, {"rewards": [], "scores": [], "extra_logs": {"hybrid_rule": [], "hybrid_applies": []}})


@pytest.mark.parametrize(
    "change, reason",  # reason: a regular expression
    [
        (lambda r: r.pop("labels"), "labels: Field required"),
        (lambda r: r.update(labels=r["labels"][:-1]), "5 labels for 6 queries"),
        (lambda r: r.update(prompts=r["prompts"][:-1]), "5 prompts for 6 queries"),
        (lambda r: r["labels"].__setitem__(1, ""), r"labels\[1\]: not a JSON object"),
        (lambda r: r["labels"].__setitem__(1, None), r"labels\[1\]: needs an object with 'category'.*--label_key"),
        (lambda r: r["labels"].__setitem__(1, {"reference": "19"}), r"labels\[1\].category: Field required"),
        (lambda r: r["labels"].__setitem__(1, {"category": "maths", "reference": "19"}), r"labels\[1\]: unknown category 'maths'"),
        (lambda r: r["labels"].__setitem__(1, {"category": "math"}), "row 1 .*math prompt needs a reference"),
        (lambda r: r["query"].__setitem__(2, "The answer is A."), r"query\[2\] does not start with prompts\[2\]"),
        (lambda r: r.update(query="not a list"), "query: Input should be a valid list"),
    ],
)
def test_bad_requests_get_422_with_the_reason(rules_server, change, reason):
    url, _ = rules_server
    request = openrlhf_request()
    change(request)
    status, reply = post(f"{url}/get_reward", request)
    assert status == 422
    assert re.search(reason, reply["error"]), reply


def test_a_body_that_is_not_json_gets_422(rules_server):
    url, _ = rules_server
    status, reply = post(f"{url}/get_reward", b"{not json")
    assert status == 422 and "JSON decode error" in reply["error"], reply


def test_rm_score_is_added_to_the_rules(reward_model_path, tmp_path):
    """With --rm the reward is the RM's score of the query as sent plus the rule reward; the RM's
    score is checked against the same tiny RM run in this process."""
    with reward_server(tmp_path / "server.log", *WEIGHTS, "--rm", str(reward_model_path)) as (url, health):
        assert health["reward_model"] is True
        request = openrlhf_request()
        status, reply = post(f"{url}/get_reward", request)
    assert status == 200, reply
    model, tokenizer = load_reward_model(reward_model_path).eval(), load_tokenizer(reward_model_path, padding_side="right")
    with torch.no_grad():
        own = [model(**tokenizer(q, return_tensors="pt", add_special_tokens=False)).logits[0, 0].item() for q in request["query"]]
    assert reply["extra_logs"]["rm_score"] == pytest.approx(own, abs=1e-4)
    assert len(set(round(s, 4) for s in own)) > 1  # the RM tells the queries apart, so a mix-up would show
    rules = [0.0 if e is None else e for *_, e in ROWS]
    assert reply["rewards"] == pytest.approx([r + s for r, s in zip(rules, own)], abs=1e-4)


def test_a_taken_port_is_refused_before_any_model_loads(tmp_path):
    """The port is bound first: a clash fails in a second with our exit-2 message, not after
    loading the reward model with uvicorn's exit 1 (the RM path here does not even exist)."""
    import socket

    from typer.testing import CliRunner

    from hrlaif.cli import app

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = CliRunner().invoke(app, ["reward-server", "--port", str(port), "--rm", str(tmp_path / "no-such-rm")])
    assert result.exit_code == 2, result.output
    assert f"cannot listen on 127.0.0.1:{port}" in result.output and "choose another --port" in result.output
    assert "no-such-rm" not in result.output
    result = CliRunner().invoke(app, ["reward-server", "--host", "no-such-host.invalid", "--port", str(port)])
    assert result.exit_code == 2 and "check --host" in result.output, result.output
