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

from hrlaif.models import load_reward_model, load_tokenizer

from support.ppo import reward_model_path as reward_model_path  # a fixture: a tiny random RM folder

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
def rules_served(tmp_path_factory):
    log = tmp_path_factory.mktemp("reward-server") / "server.log"
    with reward_server(log, *WEIGHTS) as (url, health):
        yield url, health, log


@pytest.fixture(scope="module")
def rules_server(rules_served):
    return rules_served[:2]


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
        # an empty label leaves the row to the RM; with none loaded it is refused, naming both ways out
        (lambda r: r["labels"].__setitem__(1, ""), r"labels\[1\] is empty \(1 of 6 labels\) and no reward model is loaded.*--label_key.*--rm"),
        (lambda r: r["labels"].__setitem__(1, None), r"labels\[1\] is empty.*object with 'category'.*--label_key"),
        (lambda r: r["labels"].__setitem__(1, ["19"]), r"labels\[1\]: needs a reference answer or an object with 'category'.*--label_key"),
        (lambda r: r["labels"].__setitem__(1, {"reference": "19"}), r"labels\[1\].category: Field required"),
        (lambda r: r["labels"].__setitem__(1, {"category": "maths", "reference": "19"}), r"labels\[1\]: unknown category 'maths'"),
        (lambda r: r["labels"].__setitem__(1, {"category": "math"}), "row 1 .*math prompt needs a reference"),
        (lambda r: r["query"].__setitem__(2, "The answer is A."), r"query\[2\] does not start with prompts\[2\]"),
        (lambda r: r.update(query="not a list"), "query: Input should be a valid list"),
        # a label that is a JSON string nested past Python's recursion limit (issue 27: was a 500)
        (lambda r: r["labels"].__setitem__(1, "[" * 100_000 + "]" * 100_000), r"labels\[1\]: the label's JSON is nested too deeply"),
        (lambda r: r["labels"].__setitem__(2, '{"a": ' * 100_000 + "1" + "}" * 100_000), r"labels\[2\]: the label's JSON is nested too deeply"),
        (lambda r: r["labels"].__setitem__(0, '{"category": "math", "reference": ' + "[" * 100_000 + "]" * 100_000 + "}"),
         r"labels\[0\]: the label's JSON is nested too deeply"),
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


@pytest.mark.parametrize("body", [b'{"query": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                                  b'{"labels": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_000 + b"}"])
def test_a_body_nested_too_deeply_gets_an_error_status_not_a_500(rules_server, body):
    url, _ = rules_server
    status, reply = post(f"{url}/get_reward", body)
    assert status in (400, 413, 422), (status, reply)  # starlette answers 400 itself
    status, _ = post(f"{url}/get_reward", openrlhf_request())  # and the server still serves
    assert status == 200


# What OpenRLHF really sends: a chat template's text, the query decoded with its special tokens
# kept (left padding before the prompt, the end-of-turn token after the answer), and labels from
# `--label_key answer`: a plain reference string (or number), not hrlaif's label object.
CHATML = "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"
MC = "Capital of Italy?\nA. Paris\nB. Rome\nC. Madrid"
OPENRLHF_ROWS = [  # (question, left padding, response as decoded, label, expected reward)
    (MC, "", "B<|im_end|>", "B", 2.0),
    (MC, "<|endoftext|><|endoftext|>", "A<|im_end|><|endoftext|>", "B", -2.0),
    (MC, "", "The answer is (B).<|im_end|>", "(B)", 2.0),
    (MC, "", "b<|im_end|>", "b", 2.0),
    (MC, "<pad>", "B<|im_end|>", json.dumps({"category": "multiple_choice", "reference": "B", "choices": ["Paris", "Rome", "Madrid"]}), 2.0),
    (MC, "", "C<|im_end|>", json.dumps({"category": "multiple_choice", "reference": "B"}), -2.0),  # choices read from the prompt
    ("What is 12 + 7?", "<|endoftext|>", "19<|im_end|>", "19", 2.0),
    ("What is 12 + 7?", "", "The answer is 20.</s>", 19, -2.0),  # a number as label: a JSON number column
    ("What is 3/4 + 0?", "", "\\boxed{3/4}<|eot_id|>", '"3/4"', 2.0),  # a JSON-quoted string
    ("Which letter comes after A?", "", "B<|im_end|>", "B", 2.0),  # a letter with no options listed: a math-style answer
]


def openrlhf_shaped(rows=OPENRLHF_ROWS) -> dict:
    prompts = [CHATML.format(question) for question, *_ in rows]
    return {"query": [pad + p + response for p, (_, pad, response, *_) in zip(prompts, rows)],
            "prompts": prompts, "labels": [label for *_, label, _ in rows]}


def test_openrlhf_queries_with_special_tokens_and_plain_labels(rules_server):
    """A short answer followed by <|im_end|> reads as that answer (it read as unknown: reward 0),
    left padding does not fail the batch, and a plain reference string is a label: an option
    letter the prompt lists is multiple choice, the rest math."""
    url, _ = rules_server
    status, reply = post(f"{url}/get_reward", openrlhf_shaped())
    assert status == 200, reply
    assert reply["rewards"] == [expected for *_, expected in OPENRLHF_ROWS]
    assert reply["extra_logs"]["hybrid_applies"] == [1.0] * len(OPENRLHF_ROWS)


def test_empty_labels_without_an_rm_are_refused_and_logged(rules_served):
    url, _, log = rules_served
    request = openrlhf_shaped()
    request["labels"] = [""] * len(request["query"])
    status, reply = post(f"{url}/get_reward", request)
    assert status == 422 and "no reward model is loaded" in reply["error"], reply
    lines = [line for line in log.read_text().splitlines() if "refused" in line]
    assert any(line.startswith("reward-server: refused POST /get_reward: 422 labels[0] is empty") for line in lines), lines
    status, _ = post(f"{url}/get_reward", b"{not json")
    assert status == 422
    assert any("refused POST /get_reward: 422" in line and "JSON decode error" in line for line in log.read_text().splitlines()), log.read_text()[-2000:]


def test_label_category_and_special_tokens_settings(tiny_model):
    """reward_server.label_category and .special_tokens, in process (the HTTP path is tested above):
    the RM's tokenizer adds its own special tokens to the configured ones."""
    from hrlaif.config import HybridRewardConfig, RewardServerConfig
    from hrlaif.reward.server import BadRequest, RewardRequest, RewardScorer

    rows = [(MC, "", "B<END>", "B", 1.0)]
    as_math = RewardScorer(HybridRewardConfig(), settings=RewardServerConfig(label_category="math", special_tokens=["<END>"]))
    assert as_math.score(RewardRequest(**openrlhf_shaped(rows)))["rewards"] == [1.0]  # "B" == "B" as a math answer
    no_tokens = RewardScorer(HybridRewardConfig(), settings=RewardServerConfig(special_tokens=[]))
    assert no_tokens.score(RewardRequest(**openrlhf_shaped(rows)))["rewards"] == [0.0]  # 'B<END>' is not read
    with_tokenizer = RewardScorer(HybridRewardConfig(), tokenizer=load_tokenizer(tiny_model), settings=RewardServerConfig(special_tokens=[]))
    assert with_tokenizer.score(RewardRequest(**openrlhf_shaped([(MC, "", "B<|im_end|>", "B", 1.0)])))["rewards"] == [1.0]
    as_mc = RewardScorer(HybridRewardConfig(), settings=RewardServerConfig(label_category="multiple_choice"))
    with pytest.raises(BadRequest, match=r"labels\[0\]: reward_server.label_category is multiple_choice, but '19'"):
        as_mc.score(RewardRequest(**openrlhf_shaped([("What is 12 + 7?", "", "19", "19", 1.0)])))


def test_rm_score_is_added_to_the_rules(reward_model_path, tmp_path):
    """With --rm the reward is the RM's score of the query as sent plus the rule reward; the RM's
    score is checked against the same tiny RM run in this process."""
    with reward_server(tmp_path / "server.log", *WEIGHTS, "--rm", str(reward_model_path)) as (url, health):
        assert health["reward_model"] is True
        request = openrlhf_request()
        status, reply = post(f"{url}/get_reward", request)
        # empty labels (OpenRLHF without --label_key) leave every row to the RM; left padding is not scored
        unlabeled = {**openrlhf_request(), "labels": ["", None, "", "", "", ""]}
        unlabeled["query"] = ["<|endoftext|>" + q for q in unlabeled["query"]]
        unlabeled_status, unlabeled_reply = post(f"{url}/get_reward", unlabeled)
    assert status == 200, reply
    assert unlabeled_status == 200, unlabeled_reply
    model, tokenizer = load_reward_model(reward_model_path).eval(), load_tokenizer(reward_model_path, padding_side="right")
    with torch.no_grad():
        own = [model(**tokenizer(q, return_tensors="pt", add_special_tokens=False)).logits[0, 0].item() for q in request["query"]]
    assert reply["extra_logs"]["rm_score"] == pytest.approx(own, abs=1e-4)
    assert len(set(round(s, 4) for s in own)) > 1  # the RM tells the queries apart, so a mix-up would show
    rules = [0.0 if e is None else e for *_, e in ROWS]
    assert reply["rewards"] == pytest.approx([r + s for r, s in zip(rules, own)], abs=1e-4)
    assert unlabeled_reply["rewards"] == pytest.approx(own, abs=1e-4)
    assert unlabeled_reply["extra_logs"]["hybrid_applies"] == [0.0] * len(ROWS)


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


# Overload (issue 27): a crafted LaTeX row holds the math verifier for ppo.hybrid.verify_timeout_s
# (sympy evaluating a power tower until its worker is killed). Caps and a deadline bound one
# request, and one slow request does not hold up another.
HOSTILE = ("What is 2 + 3?", "\\boxed{10^{10^{10}}}", {"category": "math", "reference": "5"}, 0.0)
NORMAL = ("What is the square root of 9?", "\\boxed{\\sqrt{9}}", {"category": "math", "reference": "3"}, 2.0)  # sympy's reading
LIMITS = ["--set", "ppo.hybrid.verify_timeout_s=1", "--set", "reward_server.request_timeout_s=3",
          "--set", "reward_server.max_rows=200", "--set", "reward_server.max_request_bytes=65536"]


@pytest.fixture(scope="module")
def limited_served(tmp_path_factory):
    log = tmp_path_factory.mktemp("reward-server") / "server.log"
    with reward_server(log, *WEIGHTS, *LIMITS) as (url, _):
        yield url, log


def test_too_many_rows_or_bytes_get_413(limited_served):
    url, log = limited_served
    status, reply = post(f"{url}/get_reward", openrlhf_request([NORMAL] * 201))
    assert status == 413 and "201 rows" in reply["error"] and "reward_server.max_rows=200" in reply["error"], reply
    assert post(f"{url}/get_reward", openrlhf_request([NORMAL] * 200))[0] == 200  # the cap itself is fine
    big = openrlhf_request([NORMAL])
    big["labels"][0] = {**NORMAL[2], "note": "x" * 70_000}
    status, reply = post(f"{url}/get_reward", big)
    assert status == 413 and "reward_server.max_request_bytes=65536" in reply["error"], reply
    assert "refused POST /get_reward: 413 request body of" in log.read_text()
    # a chunked body has no Content-Length: it is counted as it is read
    import http.client

    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    body = json.dumps(big).encode()
    connection.request("POST", "/get_reward", body=(body[i:i + 8192] for i in range(0, len(body), 8192)),
                       headers={"Content-Type": "application/json"}, encode_chunked=True)
    response = connection.getresponse()
    assert response.status == 413 and "more than reward_server.max_request_bytes=65536" in json.load(response)["error"]
    connection.close()


def test_a_slow_batch_does_not_hold_up_another_client_and_ends_at_its_deadline(limited_served):
    """The issue's done-when: while one client's batch of crafted rows (100 x 1 s in the verifier)
    is in flight, another client's normal row is answered within 2 s (about 0.05 s idle); the slow
    batch gets 503 at its 3 s deadline, not after 100 s."""
    import threading

    url, _ = limited_served
    assert post(f"{url}/get_reward", openrlhf_request([NORMAL]))[1]["rewards"] == [2.0]  # warm
    hostile: dict = {}

    def send_hostile():
        start = time.monotonic()
        hostile["reply"] = post(f"{url}/get_reward", openrlhf_request([HOSTILE] * 100))
        hostile["elapsed"] = time.monotonic() - start

    thread = threading.Thread(target=send_hostile)
    thread.start()
    time.sleep(1.0)  # the batch is being checked
    assert thread.is_alive()
    start = time.monotonic()
    status, reply = post(f"{url}/get_reward", openrlhf_request([NORMAL]))
    elapsed = time.monotonic() - start
    in_flight = thread.is_alive()
    thread.join(timeout=120)
    assert (status, reply["rewards"]) == (200, [2.0]), reply
    assert elapsed < 2.0, f"a normal row took {elapsed:.2f}s while a slow batch was in flight"
    assert in_flight  # it was answered while the slow batch was still being scored
    status, reply = hostile["reply"]
    assert status == 503, reply
    assert re.search(r"not scored within reward_server.request_timeout_s=3s: \d+ of 100 keyed rows checked", reply["error"]), reply
    assert 3 <= hostile["elapsed"] < 30, hostile["elapsed"]  # its deadline, not 100 rows x 1 s
    # the server goes on; one crafted row within the deadline is unknown at its own 1 s bound: 0, as before
    status, reply = post(f"{url}/get_reward", openrlhf_request([NORMAL, HOSTILE]))
    assert (status, reply["rewards"]) == (200, [2.0, 0.0]), reply


def test_a_request_waiting_for_a_free_scorer_past_its_deadline_is_overloaded():
    """reward_server.concurrency bounds the requests scored at once; one that waits for a free
    scorer past its deadline gets Overloaded (503), in process."""
    from hrlaif.config import HybridRewardConfig, RewardServerConfig
    from hrlaif.reward.server import Overloaded, RewardRequest, RewardScorer

    scorer = RewardScorer(HybridRewardConfig(), settings=RewardServerConfig(concurrency=1, request_timeout_s=0.2))
    request = RewardRequest(**openrlhf_request([NORMAL]))
    held = scorer._workers.get()  # the one scorer is busy
    try:
        start = time.monotonic()
        with pytest.raises(Overloaded, match=r"no scorer free within reward_server.request_timeout_s=0.2s \(all reward_server.concurrency=1 busy\)"):
            scorer.score(request)
        assert time.monotonic() - start < 10 * 0.2
    finally:
        scorer._workers.put(held)
    assert scorer.score(request, deadline=time.monotonic() + 60)["rewards"] == [1.0]  # room for its verifier to boot
