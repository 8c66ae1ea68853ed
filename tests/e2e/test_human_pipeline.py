"""human-eval on the real output of `hrlaif compare` (tiny random models): the served items are the
evaluation's responses, two raters answer over HTTP, and results compare them with the machine
verdicts that the evaluation stage wrote."""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.parse
import urllib.request

from typer.testing import CliRunner

from hrlaif.cli import app

from support.human_run import free_port, serving
from support.run_configs import COMPARE, write_run_config

runner = CliRunner()


def _compare(tmp_path, model):
    path = write_run_config(tmp_path, model, COMPARE, judge={"model": str(model)},
                            redteam={"num_generated": 4, "max_attacks": 4, "generation": {"max_new_tokens": 8}, "rewrite_max_tokens": 16},
                            evaluate={"max_attack_prompts": 2})
    result = runner.invoke(app, ["compare", "-c", str(path)])
    assert result.exit_code == 0, result.output
    return tmp_path / "run"


def _rater(base: str, link: str):
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with opener.open(link, timeout=10) as r:  # sets the cookie, redirects to / (the instructions, on a first visit)
        assert r.status == 200 and r.url == base + "/" and "Before you start" in r.read().decode()
    with opener.open(urllib.request.Request(base + "/start", data=b"", method="POST"), timeout=10) as r:
        assert r.status == 200
    return opener


def _rate_all(opener, base: str, decide) -> int:
    answered = 0
    while True:
        with opener.open(base + "/", timeout=10) as r:
            page = r.read().decode()
        if "All done" in page:
            return answered
        item = re.search(r'name="item" value="(\d+)"', page).group(1)
        choice = decide(int(item), "Which response is better?" in page)
        data = urllib.parse.urlencode({"item": item, "choice": choice}).encode()
        with opener.open(urllib.request.Request(base + "/answer", data=data, method="POST"), timeout=10) as r:
            assert r.status == 200
        answered += 1


def test_human_eval_on_a_real_compare_run(tmp_path, tiny_model):
    run = _compare(tmp_path, tiny_model)
    responses = {p.name: len(p.read_text().splitlines()) for p in (run / "eval").glob("responses-*.jsonl")}
    assert responses == {"responses-start.jsonl": 8, "responses-rlaif.jsonl": 8, "responses-hrlaif.jsonl": 8}
    # Barely trained policies often repeat the start policy's text: a repeated text is rated once, and
    # an identical pair is a tie without raters. Counted here from the files, independently of hrlaif.
    texts = {policy: {r["prompt_id"]: r["response"].strip() for r in map(json.loads, (run / "eval" / f"responses-{policy}.jsonl").read_text().splitlines())}
             for policy in ("start", "rlaif", "hrlaif")}
    distinct = len({(pid, text) for by_prompt in texts.values() for pid, text in by_prompt.items()})
    identical = sum(texts[arm][pid] == texts["start"][pid] for arm in ("rlaif", "hrlaif") for pid in texts["start"])
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serving(run, port, tmp_path / "server.log", "--raters-per-item", "2"):
        links = []
        for name in ("ann", "ben"):
            result = runner.invoke(app, ["human-eval", "add-rater", str(run), name, "--url", base])
            assert result.exit_code == 0
            links.append(result.stdout.strip().splitlines()[-1])

        def decide(item: int, pairwise: bool) -> str:  # both raters answer alike: no even splits
            return ("1", "2", "tie")[item % 3] if pairwise else ("yes" if item % 2 else "no")

        counts = [_rate_all(_rater(base, link), base, decide) for link in links]
    assert counts == [distinct + 16 - identical] * 2  # every distinct text, every pair that differs, each by both raters
    result = runner.invoke(app, ["human-eval", "results", str(run)])
    assert result.exit_code == 0, result.output
    r = json.loads((run / "human" / "results.json").read_text())
    assert set(r["satisfaction"]) == {"start", "rlaif", "hrlaif"} and set(r["win_ratio"]) == {"rlaif", "hrlaif"}
    assert all(s["overall"]["n"] == 8 for s in r["satisfaction"].values())
    assert r["coverage"]["satisfaction"] == {"rated": distinct, "complete": distinct, "items": distinct}
    assert sum(w["identical_ties"] for w in r["win_ratio"].values()) == identical and r["items"]["pairwise_identical"] == identical
    assert r["inter_rater"]["satisfaction"]["observed_agreement"] == 1.0
    ai = r["ai_human_agreement"]
    machine = [json.loads(line) for p in (run / "eval").glob("scores-*.jsonl") for line in p.read_text().splitlines()]
    assert ai["machine_satisfaction"]["n"] == sum(m["satisfied"] is not None for m in machine)
    harmful_judged = sum(m["category"] == "harmful" and (m.get("verdict") or {}).get("choice") is not None for m in machine)
    assert ai["judge_refusal"]["n"] == harmful_judged
    assert harmful_judged == 0 or "simulated" in ai["judge_refusal"]["judge"]
    assert ai["verifier"]["n"] == sum(m["category"] in ("math", "multiple_choice") and m["correct"] is not None for m in machine)
    # The judge's per-prompt win-ratio verdicts are compared with the raters' blind pairwise answers.
    judged = [json.loads(line) for p in (run / "eval").glob("pairwise-*.jsonl") for line in p.read_text().splitlines()]
    assert len(judged) == 16 and {j["arm"] for j in judged} == {"rlaif", "hrlaif"}
    pref = ai["judge_preference"]
    # Screen order is drawn per rater, so the same key ("1") can name different arms: some items split.
    assert pref["n"] + pref["human_split_evenly"] + pref["machine_undecided"] == 16 - identical and (pref["n"] > 0 or identical == 16)
    assert sum(pref["judge_on_identical_pairs"].values()) == identical
    assert pref["machine_undecided"] <= sum(j["outcome"] is None for j in judged)
    assert sum(pref["confusion"].values()) == pref["n"] and "judge_preference" not in r.get("not_available", {})
    # The report puts the human figures on its first screen, beside the machine ones (after the
    # few lines that say whether the run could see an effect at all).
    assert runner.invoke(app, ["report", str(run)]).exit_code == 0
    report = (run / "report" / "report.md").read_text()
    read_first, first = report.split("## ", 3)[1:3]
    assert read_first.startswith("Read first") and len(read_first.splitlines()) < 12
    assert first.startswith("What this run shows") and "| human satisfaction |" in first
    human_row = next(line for line in first.splitlines() if line.startswith("| human satisfaction |"))
    assert human_row.count("(n=8)") == 3, human_row
