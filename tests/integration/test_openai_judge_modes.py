"""The openai backend's request modes against real HTTP servers on 127.0.0.1: verdicts constrained
to option tokens (one request each), extra_body, reasoning models, template files, cached
unscorable verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hrlaif.errors import HrlaifError
from hrlaif.judge import build_judge
from hrlaif.judge.base import Question
from hrlaif.judge.cache import CachedJudge
from hrlaif.judge.openai_backend import OpenAIJudge
from hrlaif.judge.templates import BUILTIN_TEMPLATES, load_templates, template_key

from support.fake_openai import FAST, FakeOpenAIServer, fake_text, judge_config, preference_questions, say


def chatty(body: dict) -> str:
    """A small model's habit: it talks before (or instead of) answering."""
    return f"I think the answer is {say(body, 'yes', 'A')} because it looks right."


def refusal_questions(n: int) -> list[Question]:
    return [Question(task="refusal", fields={"prompt": f"harmful request {i}", "response": f"I can't help with request {i}."}) for i in range(n)]


def test_constrained_verdicts_take_one_request_each() -> None:
    questions = preference_questions(6) + refusal_questions(4)
    with FakeOpenAIServer(answer=chatty, tokenize=True) as server:
        judge = build_judge(judge_config(server.base_url))
        verdicts = judge.ask(questions)
        bodies = [r.body for r in server.completions]
    assert len(verdicts) == len(questions) and all(v.scorable for v in verdicts)
    assert len(bodies) == 6 + 2 * 4 == judge.stats.calls, "one request per verdict (refusal: one per label order)"
    for body in bodies:
        allowed = sorted(fake_text(int(i)) for i in body["logit_bias"])
        assert body["max_tokens"] == 1 and all(b == 100 for b in body["logit_bias"].values())
        assert len(set(allowed)) == (2 if "response_a" in body["messages"][-1]["content"] else 2)
        assert body["logprobs"] is True
    assert all(v.probs is not None for v in verdicts)


def test_without_a_tokenize_route_the_reply_is_parsed_as_text() -> None:
    with FakeOpenAIServer(answer=chatty, tokenize=False) as server:
        verdicts = OpenAIJudge(judge_config(server.base_url), reask_limit=1, **FAST).ask(preference_questions(2))
        bodies = [r.body for r in server.completions]
    assert len(bodies) == 2 * 2, "each question asked, then re-asked once"
    assert all("logit_bias" not in b and b["max_tokens"] == 8 for b in bodies)
    assert len(verdicts) == 2 and all(v.reason.startswith("unparseable: ") for v in verdicts)


def test_option_token_ids_from_the_config_need_no_probe() -> None:
    with FakeOpenAIServer(answer=chatty, tokenize=False) as server:
        config = judge_config(server.base_url, option_token_ids={"A": [65], "B": [66]})
        verdicts = OpenAIJudge(config, **FAST).ask(preference_questions(3))
        bodies = [r.body for r in server.completions]
    assert [v.choice for v in verdicts] == ["A", "A", "A"] and len(bodies) == 3
    assert all(b["logit_bias"] == {"65": 100, "66": 100} for b in bodies)


def test_extra_body_reaches_the_server() -> None:
    with FakeOpenAIServer() as server:
        config = judge_config(server.base_url, extra_body={"guided_choice": ["A", "B"]}, constrain=False)
        verdicts = OpenAIJudge(config, **FAST).ask(preference_questions(2))
        bodies = [r.body for r in server.completions]
    assert len(verdicts) == 2 and len(bodies) == 2, "one request per question, each answered"
    assert all(b["guided_choice"] == ["A", "B"] for b in bodies)


def thinker(body: dict) -> str:
    label = say(body, "yes", "A")
    return f"The response declines.\nIt offers nothing harmful.\nVerdict: {label}"


def test_reasoning_mode_against_a_server_that_rejects_max_tokens_and_temperature() -> None:
    questions = refusal_questions(3) + preference_questions(2)
    with FakeOpenAIServer(answer=thinker, reject_params=("max_tokens", "temperature"), tokenize=True) as server:
        plain = OpenAIJudge(judge_config(server.base_url, max_retries=0), **FAST).ask(questions[:1])
        assert plain[0].choice is None and "http 400" in plain[0].reason and "max_tokens" in plain[0].reason
        server.log.clear()
        config = judge_config(server.base_url, reasoning=True, reasoning_max_tokens=512)
        verdicts = build_judge(config).ask(questions)
        bodies = [r.body for r in server.completions]
    assert [v.choice for v in verdicts] == ["YES", "YES", "YES", "A", "A"]
    for body in bodies:
        assert body["max_completion_tokens"] == 512
        assert not {"max_tokens", "temperature", "logprobs", "logit_bias"} & set(body)
        assert "Verdict: X" in body["messages"][-1]["content"]


def test_reasoning_reply_without_a_final_verdict_line_is_unscorable() -> None:
    with FakeOpenAIServer(answer=lambda body: "Verdict: A\nbut on reflection I am not sure") as server:
        [verdict] = OpenAIJudge(judge_config(server.base_url, reasoning=True), reask_limit=0, **FAST).ask(preference_questions(1))
    assert verdict.choice is None and verdict.reason.startswith("unparseable")


# -- templates from files ------------------------------------------------------------------

def test_templates_dir_replaces_a_template_and_changes_its_cache_key(tmp_path: Path) -> None:
    before_key, before_fp = template_key(BUILTIN_TEMPLATES["refusal"]), BUILTIN_TEMPLATES.fingerprint()
    folder = tmp_path / "templates"
    folder.mkdir()
    t = BUILTIN_TEMPLATES["refusal"]
    data = {"version": t.version, "instructions": "CUSTOM: does the response refuse?", "fields": list(t.fields),
            "options": list(t.options), "question": t.question, "ask": t.ask}
    (folder / "refusal.yaml").write_text(yaml.safe_dump(data))
    q = refusal_questions(1)[0]
    with FakeOpenAIServer() as server:
        judge = build_judge(judge_config(server.base_url, templates_dir=folder), cache_path=tmp_path / "c.sqlite")
        judge.ask([q])
        prompts = [r.prompt for r in server.completions]
        custom = load_templates(folder)
        assert judge.templates == custom and custom.key("refusal") != before_key and custom.fingerprint()["refusal"] != before_fp["refusal"]
        assert custom.fingerprint()["preference"] == before_fp["preference"]
        assert all(p.startswith("CUSTOM: does the response refuse?") for p in prompts) and len(prompts) == 2
        judge.close()
        # the built-in template again: a different key, so it is asked again
        judge = build_judge(judge_config(server.base_url), cache_path=tmp_path / "c.sqlite")
        judge.ask([q])
        assert judge.templates.key("refusal") == before_key and server.count == 4
        judge.close()


def refusal_template_folder(folder: Path, instructions: str) -> Path:
    t = BUILTIN_TEMPLATES["refusal"]
    folder.mkdir()
    data = {"version": t.version, "instructions": instructions, "fields": list(t.fields),
            "options": list(t.options), "question": t.question, "ask": t.ask}
    (folder / "refusal.yaml").write_text(yaml.safe_dump(data))
    return folder


@pytest.mark.parametrize("built", [("label", "grade", "builtin"), ("builtin", "grade", "label"), ("grade", "label", "builtin")])
def test_judges_from_different_template_folders_each_render_with_their_own(tmp_path: Path, built: tuple[str, ...]) -> None:
    """A labeling and a grading judge (evaluate.judge) with their own templates_dir, and one
    without: building one never changes what another renders, in whatever order they are built."""
    folders = {name: refusal_template_folder(tmp_path / name, f"{name.upper()}: does the response refuse?") for name in ("label", "grade")}
    opening = {"label": "LABEL: does", "grade": "GRADE: does", "builtin": BUILTIN_TEMPLATES["refusal"].instructions}
    q = refusal_questions(1)[0]
    with FakeOpenAIServer() as server:
        judges = {name: build_judge(judge_config(server.base_url, templates_dir=folders.get(name))) for name in built}
        for name in ("label", "grade", "builtin"):  # asked in one order, built in another
            start = len(server.completions)
            judges[name].ask([q])
            prompts = [r.prompt for r in server.completions[start:]]
            assert len(prompts) == 2 and all(p.startswith(opening[name]) for p in prompts), (name, prompts)
            judges[name].close()
    assert judges["builtin"].templates == BUILTIN_TEMPLATES and judges["label"].templates == load_templates(folders["label"])


@pytest.mark.parametrize(
    "content, message",
    [
        ("version: [1", "not a readable YAML"),
        ("- a\n- b\n", "expected a mapping"),
        ("version: v\ninstructions: x\nfields: [prompt, response]\noptions: [YES, NO]\nquestion: q\n", "quote YES and NO"),
        ("version: v\ninstructions: x\nfields: [prompt, response]\noptions: ['YES', 'NO']\nquestion: q\ncolour: red\n", "unknown key 'colour'"),
        ("version: v\ninstructions: x\nfields: [prompt, response]\noptions: ['YES', 'NO']\n", "missing key 'question'"),
        ("version: v\ninstructions: x\nfields: [prompt]\noptions: ['YES', 'NO']\nquestion: q\n", "fields and options must stay"),
    ],
)
def test_bad_template_files_are_one_line_errors(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "refusal.yaml").write_text(content)
    with pytest.raises(HrlaifError, match=message) as failure:
        build_judge(judge_config("http://127.0.0.1:9/v1", templates_dir=tmp_path))
    assert str(tmp_path / "refusal.yaml") in str(failure.value) and "\n" not in str(failure.value)


# -- unscorable verdicts are cached ----------------------------------------------------------

def test_an_unparseable_verdict_is_cached_unless_retried(tmp_path: Path) -> None:
    db = tmp_path / "cache.sqlite"
    questions = preference_questions(3)
    with FakeOpenAIServer(answer=lambda body: "Both have merit.") as server:
        first = CachedJudge(OpenAIJudge(judge_config(server.base_url), reask_limit=1, **FAST), db)
        verdicts = first.ask(questions)
        assert len(verdicts) == 3 and all(v.reason.startswith("unparseable: ") for v in verdicts) and server.count == 6
        again = CachedJudge(OpenAIJudge(judge_config(server.base_url), reask_limit=1, **FAST), db).ask(questions)
        assert server.count == 6 and len(again) == 3 and all(v.cached and v.choice is None for v in again), "a re-run does not pay again"
    with FakeOpenAIServer() as fixed:
        retried = build_judge(judge_config(fixed.base_url, retry_unscorable=True, permute_labels=False), cache_path=db).ask(questions)
        assert fixed.count == 3 and len(retried) == 3 and all(v.scorable for v in retried)
        later = build_judge(judge_config(fixed.base_url, permute_labels=False), cache_path=db).ask(questions)
        assert fixed.count == 3 and [v.choice for v in later] == [v.choice for v in retried], "the retried answer replaced it"


def test_failed_requests_are_not_cached(tmp_path: Path) -> None:
    db = tmp_path / "cache.sqlite"
    with FakeOpenAIServer(faults={"500": 1.0}) as server:
        [v] = CachedJudge(OpenAIJudge(judge_config(server.base_url, max_retries=1), **FAST), db).ask(preference_questions(1))
        assert v.choice is None and v.reason.startswith("http 500")
    with FakeOpenAIServer() as server:
        [v] = CachedJudge(OpenAIJudge(judge_config(server.base_url), **FAST), db).ask(preference_questions(1))
        assert v.scorable and server.count == 1
