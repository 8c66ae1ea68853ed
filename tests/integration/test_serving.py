"""The openai and vllm generation backends (`policy.backend`, hrlaif.serving): the openai one
against a real HTTP server on 127.0.0.1 (tests/support/fake_openai.py, faults injected), through
`sample_responses` and the CLI; vllm only where it is missing (it needs a GPU)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hrlaif.cli import app
from hrlaif.config import GenerationConfig, ModelConfig, PolicyServerConfig, load_config
from hrlaif.errors import HrlaifError
from hrlaif.manifest import read_manifest
from hrlaif.models import chat_prompt, load_tokenizer
from hrlaif.records import Prompt
from hrlaif.sampling import sample_responses
from hrlaif.serving import OpenAIPolicy, VllmPolicy, release_engines, request_seed

from support.fake_openai import FakeOpenAIServer, dead_url
from support.run_configs import DROP, write_run_config

GEN = GenerationConfig(max_new_tokens=4, temperature=0.7, top_p=0.9)


def prompts(n: int = 3) -> list[Prompt]:
    return [Prompt(id=f"p{i}", category="open_ended", prompt=f"Tell me about item number {i}.") for i in range(n)]


def served(url: str, **server) -> ModelConfig:
    return ModelConfig(backend="openai", server=PolicyServerConfig(base_urls=[url], api_key_env="HRLAIF_TEST_NO_KEY", **server))


def test_samples_from_a_server_have_the_transformers_shape_and_the_same_prompts(tiny_model: Path) -> None:
    with FakeOpenAIServer(model="served-policy", words=6) as server:
        samples = sample_responses(prompts(), str(tiny_model), GEN, num_samples=2, seed=5, policy_name="start",
                                   backend=served(server.base_url, extra_body={"top_k": 0, "min_p": 0}))
    local = sample_responses(prompts(), str(tiny_model), GEN, num_samples=2, seed=5, policy_name="start")
    # the same rows, in the same order, with the same fields: only the texts differ
    assert [(s.prompt_id, s.sample_index, s.policy) for s in samples] == [(s.prompt_id, s.sample_index, s.policy) for s in local]
    assert [set(s.model_dump()) for s in samples] == [set(s.model_dump()) for s in local]
    assert len(samples) == 6 and all(s.truncated for s in samples), "6 words, 4 allowed: finish_reason 'length'"

    tokenizer = load_tokenizer(tiny_model)
    rendered = [chat_prompt(tokenizer, [m.model_dump() for m in p.messages]) for p in prompts()]
    bodies = [entry["body"] for entry in server.log]
    assert len(bodies) == 6 and {b["model"] for b in bodies} == {"served-policy"}  # the name the server lists
    assert sorted(b["prompt"] for b in bodies) == sorted(rendered * 2), "the policy's own chat template, rendered here"
    assert {(b["max_tokens"], b["temperature"], b["top_p"], b["top_k"], b["min_p"]) for b in bodies} == {(4, 0.7, 0.9, 0, 0)}
    # sample k of prompt i carries seed request_seed(seed + k, i): distinct, and what its text echoes
    expected = {request_seed(5 + k, i) for k in range(2) for i in range(3)}
    assert {b["seed"] for b in bodies} == expected and len(expected) == 6
    by_key = {(s.prompt_id, s.sample_index): s for s in samples}
    for k in range(2):
        for i in range(3):
            assert by_key[(f"p{i}", k)].response.startswith(f"{request_seed(5 + k, i)}|")


def test_finished_answers_are_not_truncated_and_greedy_sends_no_top_p(tiny_model: Path) -> None:
    greedy = GenerationConfig(max_new_tokens=8, temperature=0.0)
    with FakeOpenAIServer(model="served-policy", words=3) as server:
        samples = sample_responses(prompts(2), str(tiny_model), greedy, num_samples=2, seed=0, backend=served(server.base_url))
    assert len(samples) == 4 and not any(s.truncated for s in samples)
    bodies = [e["body"] for e in server.log]
    assert len(bodies) == 4 and all(b["temperature"] == 0 and "top_p" not in b for b in bodies)


def test_requests_run_concurrently_and_spread_over_endpoints() -> None:
    with FakeOpenAIServer(model="served-policy", delay_s=0.3) as one, FakeOpenAIServer(model="served-policy", delay_s=0.3) as two:
        config = PolicyServerConfig(base_urls=[one.base_url, two.base_url], concurrency=4, model="m")
        out = OpenAIPolicy(config).generate([f"prompt {i}" for i in range(8)], GEN, seed=1)
    assert len(out) == 8 and [o.text.split("|")[0] for o in out] == [str(request_seed(1, i)) for i in range(8)]
    assert len(one.log) == 4 and len(two.log) == 4, "round robin over both endpoints"
    assert max(one.max_in_flight, two.max_in_flight) >= 2, "several requests in flight at once"


def test_server_errors_are_retried_then_the_answer_kept() -> None:
    with FakeOpenAIServer(model="served-policy", script=["503", "429", "hang"], hang_s=2.0) as server:
        config = PolicyServerConfig(base_urls=[server.base_url], concurrency=1, max_retries=3, timeout_s=0.5, model="m")
        policy = OpenAIPolicy(config, backoff_s=0.01)
        out = policy.generate(["only prompt"], GEN, seed=2)
    assert out[0].text.startswith(f"{request_seed(2, 0)}|")
    assert [e["fault"] for e in server.log] == ["503", "429", "hang", "ok"] and policy.retries == 3


def test_a_prompt_failing_past_its_retries_stops_with_the_endpoint_named_and_no_key(monkeypatch) -> None:
    monkeypatch.setenv("HRLAIF_TEST_KEY", "sk-secret-test-key")
    with FakeOpenAIServer(model="served-policy", script=["503"] * 3) as server:
        config = PolicyServerConfig(base_urls=[server.base_url], max_retries=2, model="m", api_key_env="HRLAIF_TEST_KEY")
        with pytest.raises(HrlaifError, match=r"policy.server \(http://127.0.0.1:\d+/v1\): prompt 0 .*http 503 .*after 3 attempts") as error:
            OpenAIPolicy(config, backoff_s=0.01).generate(["p"], GEN, seed=0)
    assert "sk-secret" not in str(error.value)
    assert {e["auth"] for e in server.log} == {"Bearer sk-secret-test-key"}, "the key reaches the server, nothing else"


def test_retry_after_is_waited_out_then_the_answer_kept() -> None:
    """A 429 with Retry-After: the policy waits that long (as the judge does) and the prompt succeeds."""
    with FakeOpenAIServer(model="served-policy", script=["429"], retry_after=1) as server:
        config = PolicyServerConfig(base_urls=[server.base_url], concurrency=1, max_retries=2, model="m")
        policy = OpenAIPolicy(config, backoff_s=0.01)
        out = policy.generate(["only prompt"], GEN, seed=3)
        log = list(server.log)
    assert out[0].text.startswith(f"{request_seed(3, 0)}|")
    assert [e["fault"] for e in log] == ["429", "ok"] and policy.retries == 1
    assert log[1]["time"] - log[0]["time"] >= 1.0, "asked again before Retry-After passed"


def test_a_dead_endpoint_cools_down_while_the_other_serves(caplog) -> None:
    """Connections refused at one endpoint: after `endpoint_failures` in a row it is skipped for its
    cooldown, so the live one serves everything instead of every other request failing first."""
    caplog.set_level(logging.WARNING, logger="hrlaif.endpoints")
    with FakeOpenAIServer(model="served-policy", delay_s=0.0) as good:
        config = PolicyServerConfig(base_urls=[dead_url(), good.base_url], concurrency=2, max_retries=4, model="m")
        policy = OpenAIPolicy(config, backoff_s=0.01, endpoint_failures=2, endpoint_cooldown_s=60.0)
        out = policy.generate([f"prompt {i}" for i in range(20)], GEN, seed=4)
        served = len(good.log)
    assert [o.text.split("|")[0] for o in out] == [str(request_seed(4, i)) for i in range(20)]
    assert served == 20, "every prompt answered by the live endpoint"
    dead_tries = policy.requests - served
    assert 2 <= dead_tries <= 3, f"{dead_tries} requests to the dead endpoint (without a cooldown: one in two, ~20)"
    assert any("failed 2 times in a row; skipping it for 60.0s" in r.getMessage() for r in caplog.records)


def test_an_endpoint_refusing_auth_is_dropped_and_the_other_serves() -> None:
    with FakeOpenAIServer(model="served-policy", script=["401"]) as bad, FakeOpenAIServer(model="served-policy") as good:
        config = PolicyServerConfig(base_urls=[bad.base_url, good.base_url], concurrency=1, model="m")
        out = OpenAIPolicy(config).generate(["a", "b", "c"], GEN, seed=0)
    assert len(out) == 3 and len(bad.log) == 1 and len(good.log) == 3


def test_a_bad_request_is_not_retried() -> None:
    with FakeOpenAIServer(model="served-policy", script=["400"]) as server:
        config = PolicyServerConfig(base_urls=[server.base_url], model="m")
        with pytest.raises(HrlaifError, match="http 400 injected 400$"):
            OpenAIPolicy(config).generate(["p"], GEN, seed=0)
    assert len(server.log) == 1


def test_missing_settings_and_vllm_fail_with_the_key_named(tiny_model: Path) -> None:
    with pytest.raises(HrlaifError, match="policy.backend=openai needs policy.server.base_urls"):
        sample_responses(prompts(1), str(tiny_model), GEN, backend=ModelConfig(backend="openai"))
    try:
        import vllm  # noqa: F401
    except ImportError:
        with pytest.raises(HrlaifError, match="policy.backend=vllm needs the vllm package"):
            sample_responses(prompts(1), str(tiny_model), GEN, backend=ModelConfig(backend="vllm"))


def test_only_what_changes_texts_enters_the_fingerprint() -> None:
    plain = ModelConfig(path="m", max_length=64)
    assert plain.fingerprint_view() == {"path": "m", "max_length": 64}, "a transformers run keeps its old fingerprints"
    a = ModelConfig(path="m", max_length=64, backend="openai", server=PolicyServerConfig(base_urls=["http://a/v1"], concurrency=2))
    b = ModelConfig(path="m", max_length=64, backend="openai", server=PolicyServerConfig(base_urls=["http://b/v1"], concurrency=9))
    c = ModelConfig(path="m", max_length=64, backend="openai", server=PolicyServerConfig(extra_body={"top_k": 0}))
    assert a.fingerprint_view() == b.fingerprint_view() != plain.fingerprint_view() != c.fingerprint_view() != a.fingerprint_view()
    assert a.fingerprint_view(generation=False) == plain.fingerprint_view(), "training stages never generate through it"


def test_a_run_mixes_backends_across_stages(tiny_model: Path, tmp_path: Path) -> None:
    """`hrlaif sample` through a server, red teaming with transformers, labeling reads the served samples."""
    run = tmp_path / "run"
    config = write_run_config(
        tmp_path, tiny_model, data={"max_train_prompts": 4}, sample={"generation": {"max_new_tokens": 4, "batch_size": DROP}},
        redteam={"num_generated": 0, "max_attacks": 2, "num_samples": 1, "generation": {"max_new_tokens": 4}, "rewrite_max_tokens": 16},
    )
    runner = CliRunner()
    with FakeOpenAIServer(model="served-policy") as server:
        result = runner.invoke(app, ["sample", "-c", str(config), "--set", "policy.backend=openai",
                                     "--set", f"policy.server.base_urls=[{server.base_url}]"])
        assert result.exit_code == 0, result.output
    assert len(server.log) == 8
    rows = [json.loads(line) for line in (run / "sample" / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and all("|" in r["response"] for r in rows), "the served texts"
    assert read_manifest(run / "sample")["compute"]["generation_backend"] == "openai"

    for command in (["redteam"], ["label", "--mode", "rlaif"]):
        result = runner.invoke(app, [*command, "-c", str(config)])
        assert result.exit_code == 0, result.output
    assert read_manifest(run / "redteam")["compute"]["generation_backend"] == "transformers"
    pairs = [json.loads(line) for line in (run / "label-rlaif" / "pairs.jsonl").read_text().splitlines()]
    served_texts = {r["response"] for r in rows}
    assert pairs and all(p["chosen"][0]["content"] in served_texts for p in pairs)

    # the served samples are the run's samples only for that backend: back to transformers re-samples
    again = load_config(config)
    assert again.policy.backend == "transformers"
    result = runner.invoke(app, ["sample", "-c", str(config)])
    assert result.exit_code == 0 and read_manifest(run / "sample")["compute"]["generation_backend"] == "transformers"


def test_training_stages_let_go_of_a_vllm_engine() -> None:
    class Engine:  # stands in for vllm.LLM, which needs a GPU; only the bookkeeping is tested
        pass

    VllmPolicy._engine = (("path", ()), Engine())
    release_engines()
    assert VllmPolicy._engine is None
    release_engines()  # nothing held: nothing to do
