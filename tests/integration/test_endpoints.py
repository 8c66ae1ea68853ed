"""The endpoint pool both OpenAI-compatible clients share (hrlaif.endpoints), and the config section
they share (config.py's BaseUrls, ApiKeyFile, MaxRetries, ExtraBody): same keys, defaults, dump order and fingerprints as before it existed.
The clients against real servers: tests/integration/test_openai_judge.py, tests/integration/test_serving.py."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx2
import openai
import pytest
import yaml

from hrlaif.config import JudgeConfig, ModelConfig, PolicyServerConfig, RunConfig, dump_config, fingerprint, load_config
from hrlaif.endpoints import COOLDOWN_MAX_S, EndpointPool, Failure, read_api_key, run_sync
from hrlaif.errors import HrlaifError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "pre_redesign_runs"
KEY = "sk-endpoint-test-0123456789abcdef"

# -- the shared config section ---------------------------------------------------------------


def test_both_sections_share_the_endpoint_fields_with_their_old_defaults() -> None:
    shared = ("base_urls", "api_key_env", "api_key_file", "concurrency", "timeout_s", "max_retries", "extra_body")
    for name in ("base_urls", "api_key_file", "max_retries", "extra_body"):  # one definition: the same field in both
        assert JudgeConfig.model_fields[name].description == PolicyServerConfig.model_fields[name].description
        assert JudgeConfig.model_fields[name].description
    judge, policy = JudgeConfig().model_dump(), PolicyServerConfig().model_dump()
    assert {k: judge[k] for k in shared} == {
        "base_urls": [], "api_key_env": "OPENAI_API_KEY", "api_key_file": None, "concurrency": 8, "timeout_s": 60.0,
        "max_retries": 4, "extra_body": {},
    }
    assert {k: policy[k] for k in shared} == {
        "base_urls": [], "api_key_env": "HRLAIF_POLICY_API_KEY", "api_key_file": None, "concurrency": 16, "timeout_s": 300.0,
        "max_retries": 4, "extra_body": {},
    }
    for section in (JudgeConfig, PolicyServerConfig):  # the bounds hold in both, inherited or redeclared
        for bad in ({"concurrency": 0}, {"timeout_s": 0}, {"max_retries": -1}, {"base_urls": "http://a/v1"}):
            with pytest.raises(ValueError):
                section(**bad)


def test_keys_and_dump_order_are_what_they_were() -> None:
    """model_fields in the old order: model_dump (`hrlaif config`, RUN/config.yaml) and docs/config.md follow it."""
    for section in (JudgeConfig, PolicyServerConfig):
        assert list(section.model_fields) == list(section().model_dump())
    assert list(PolicyServerConfig().model_dump()) == [
        "model", "base_urls", "api_key_env", "api_key_file", "concurrency", "timeout_s", "max_retries", "extra_body", "vllm",
    ]
    assert list(JudgeConfig().model_dump()) == [
        "backend", "model", "base_urls", "api_key_env", "api_key_file", "concurrency", "batch_size", "timeout_s", "max_retries",
        "max_tokens", "seed", "cache", "cache_file", "budget", "prices", "constrain", "option_token_ids", "extra_body", "reasoning",
        "reasoning_max_tokens", "templates_dir", "retry_unscorable", "permute_labels", "simulated", "require_qualified",
    ]
    assert JudgeConfig().model_dump(include={"constrain", "extra_body"}) == {"constrain": True, "extra_body": {}}


@pytest.mark.parametrize("run", sorted(p.name for p in FIXTURES.iterdir() if p.is_dir()))
def test_configs_written_before_the_redesign_load_and_dump_unchanged(run: str) -> None:
    """Every pre-redesign config.yaml (tests/fixtures/pre_redesign_runs) loads and dumps to the same
    keys, values and order; sections and fields added since (compare.oracle, best_of_n) come on top.
    The one key gone: dpo.lora.critic (always false; DPO has no critic, issue 28), still accepted."""
    text = (FIXTURES / run / "config.yaml").read_text()
    config = load_config(FIXTURES / run / "config.yaml")
    config.run_dir = "RUN_DIR"
    before, after = yaml.safe_load(text), yaml.safe_load(dump_config(config))
    assert before["dpo"]["lora"].pop("critic") is False and "critic" not in after["dpo"]["lora"]

    def same_where_it_was(old: dict, new: dict, where: str) -> None:
        assert [k for k in new if k in old] == list(old), where  # every old key, in its order
        for key, value in old.items():
            if isinstance(value, dict) and value:
                same_where_it_was(value, new[key], f"{where}.{key}")
            else:
                assert new[key] == value, f"{where}.{key}"

    same_where_it_was(before, after, "config")
    assert set(after) - set(before) <= {"best_of_n"}  # the one section added since


def test_fingerprints_are_what_the_code_before_the_shared_section_computed() -> None:
    """Hashes computed with main at 48a350a (before the shared endpoint fields)."""
    full = JudgeConfig(backend="openai", model="m", base_urls=["http://a/v1"], api_key_file="/k", concurrency=3, timeout_s=9,
                       max_retries=1, extra_body={"x": 1})
    assert fingerprint(JudgeConfig()) == "3b7785b7492d074d"
    assert fingerprint(PolicyServerConfig()) == "07023cdb5c001afe"
    assert fingerprint(full) == "d04999ccc71e68ae"
    assert fingerprint(ModelConfig(backend="openai", server=PolicyServerConfig(extra_body={"top_k": 0}))) == "841f6b0154ffbff9"
    # The sections holding endpoint fields, as a whole run config has them (the whole RunConfig's hash
    # moves with every new section, e.g. best_of_n; no stage fingerprints it whole).
    assert fingerprint(RunConfig().model_dump(include={"judge", "policy", "evaluate"})) == "56d826313bcf8315"
    assert fingerprint(ModelConfig(backend="openai").fingerprint_view()) == "13604be06af23957"
    assert fingerprint(JudgeConfig().model_dump(include={"constrain", "extra_body", "reasoning", "permute_labels"})) == "68c876ff16c84047"


# -- the key ---------------------------------------------------------------------------------


def test_the_key_comes_from_the_file_then_the_env_var_then_none(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HRLAIF_TEST_ENDPOINT_KEY", f"  {KEY}\n")
    assert read_api_key(PolicyServerConfig(api_key_env="HRLAIF_TEST_ENDPOINT_KEY"), "policy.server") == KEY
    (tmp_path / "key").write_text("from-file\n")
    assert read_api_key(JudgeConfig(api_key_env="HRLAIF_TEST_ENDPOINT_KEY", api_key_file=tmp_path / "key"), "judge") == "from-file"
    assert read_api_key(JudgeConfig(api_key_env="HRLAIF_TEST_NO_SUCH_KEY"), "judge") == "none"
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(HrlaifError, match=r"^policy.server.api_key_file .*empty: the file is empty$"):
        read_api_key(PolicyServerConfig(api_key_file=tmp_path / "empty"), "policy.server")
    with pytest.raises(HrlaifError, match=r"^judge.api_key_file .*missing: cannot read it"):
        read_api_key(JudgeConfig(api_key_file=tmp_path / "missing"), "judge")


# -- the pool --------------------------------------------------------------------------------


def pool(*urls: str, **kwargs) -> EndpointPool:
    config = PolicyServerConfig(base_urls=list(urls), api_key_env="HRLAIF_TEST_ENDPOINT_KEY")
    return EndpointPool(config, section="policy.server", unusable="nothing usable ({reasons})", **kwargs)


def test_round_robin_skips_an_endpoint_cooling_down_and_waits_when_all_are(monkeypatch, caplog) -> None:
    p = pool("http://a/v1", "http://b/v1/", "http://a/v1", endpoint_failures=2, endpoint_cooldown_s=10)
    assert p.urls == ["http://a/v1", "http://b/v1"], "duplicates and trailing slashes go"
    assert [p.pick(0)[0].url for _ in range(4)] == ["http://a/v1", "http://b/v1"] * 2
    a, b = p.endpoints
    with caplog.at_level(logging.WARNING, logger="hrlaif.endpoints"):
        p.failed(a, Failure("timeout"), now=0)
        assert a.down_until == 0
        p.failed(a, Failure("timeout"), now=1)
    assert a.down_until == 11 and "policy.server endpoint http://a/v1 failed 2 times in a row; skipping it for 10.0s" in caplog.text
    assert [p.pick(2)[0].url for _ in range(3)] == ["http://b/v1"] * 3
    p.failed(b, Failure("http 429", endpoint_fault=False, status=429, retry_after=30), now=2)
    assert b.down_until == 32 and b.failures == 0, "Retry-After sets the endpoint aside; it is not a fault of the endpoint"
    assert p.pick(5) == (a, 6.0), "all aside: the one back soonest, and how long until then"
    p.failed(a, Failure("timeout"), now=12)  # failing again after its cooldown: a longer one
    assert a.down_until == 32 and a.trips == 2
    p.succeeded(a)
    assert a.failures == a.trips == 0
    p.failed(b, Failure("http 400", retryable=False, endpoint_fault=False, status=400), now=40)
    assert b.failures == 0, "a client error says nothing about the endpoint"


def test_the_cooldown_doubles_up_to_its_ceiling() -> None:
    p = pool("http://a/v1", endpoint_failures=1, endpoint_cooldown_s=5)
    [a] = p.endpoints
    now, cooldowns = 0.0, []
    for _ in range(6):
        p.failed(a, Failure("connection error"), now)
        cooldowns.append(a.down_until - now)
        now = a.down_until
    assert cooldowns == [5, 10, 20, 40, COOLDOWN_MAX_S, COOLDOWN_MAX_S]


def test_refused_endpoints_are_dropped_and_none_left_is_an_error_without_the_key(monkeypatch) -> None:
    monkeypatch.setenv("HRLAIF_TEST_ENDPOINT_KEY", KEY)
    p = pool("http://a/v1", "http://b/v1")
    a, b = p.endpoints
    assert not p.refused(a, Failure("http 503", status=503))
    assert p.refused(a, Failure("http 401", status=401, message=f"bad key {KEY}"[:200]))
    assert [p.pick(0)[0].url for _ in range(2)] == ["http://b/v1"] * 2
    assert p.refused(b, Failure("http 404", status=404))
    with pytest.raises(HrlaifError) as error:
        p.pick(0)
    assert str(error.value) == "nothing usable (http://a/v1: http 401 bad key <redacted>; http://b/v1: http 404)"


def test_backoff_is_exponential_with_jitter_and_retry_after_wins() -> None:
    p = pool("http://a/v1", backoff_s=1.0, backoff_max_s=8.0)
    for failures, ceiling in [(1, 1), (2, 2), (3, 4), (4, 8), (9, 8)]:
        waits = [p.backoff(failures) for _ in range(50)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits) and len(set(waits)) > 1
    assert all(3.0 <= p.delay(Failure("http 429", retry_after=3.0), 1) <= 3.3 for _ in range(20))
    assert p.delay(Failure("timeout"), 1) <= 1.0


def status_error(status: int, body: object, headers: dict[str, str] | None = None) -> openai.APIStatusError:
    request = httpx2.Request("POST", "http://a/v1/chat/completions")
    return openai.APIStatusError("error", response=httpx2.Response(status, headers=headers or {}, request=request), body=body)


def test_status_classes_and_scrubbed_messages(monkeypatch) -> None:
    monkeypatch.setenv("HRLAIF_TEST_ENDPOINT_KEY", KEY)
    p = pool("http://a/v1")
    request = httpx2.Request("POST", "http://a/v1/chat/completions")
    assert p.failure(openai.APITimeoutError(request)) == Failure("timeout")
    assert p.failure(openai.APIConnectionError(request=request)) == Failure("connection error")
    assert p.failure(ValueError("not JSON")) == Failure("malformed response (ValueError)")
    for status in (408, 409, 429, 500, 503):
        failure = p.failure(status_error(status, {"error": {"message": "busy"}}, {"retry-after": "2"}))
        assert failure.retryable and failure.retry_after == 2.0 and failure.message == "busy"
        assert failure.endpoint_fault == (status >= 500) and failure.label == f"http {status}"
    for status in (400, 401, 403, 404, 422):
        failure = p.failure(status_error(status, {"error": {"message": "no"}}, {"retry-after": "2"}))
        assert not failure.retryable and not failure.endpoint_fault and failure.retry_after is None
    echoed = p.failure(status_error(400, {"error": {"message": "x" * 190 + f"Bearer {KEY}"}}))
    assert len(echoed.message) == 200 and echoed.message.endswith("Bearer <re"), "scrubbed whole, then cut to 200"
    assert p.failure(status_error(502, "<html>bad gateway</html>")).message == "<html>bad gateway</html>"
    assert p.scrub(f"key={KEY}") == "key=<redacted>"


def test_run_sync_works_inside_a_running_event_loop() -> None:
    async def work() -> int:
        await asyncio.sleep(0)
        return 7

    assert run_sync(work) == 7

    async def caller() -> int:
        return run_sync(work)  # a loop is running here: the work runs on its own loop in a thread

    assert asyncio.run(caller()) == 7
