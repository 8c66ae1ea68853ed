"""The raters' web app in a real browser: Debian's chromium driven by Playwright, against
`hrlaif human-eval serve` running as a real subprocess on 127.0.0.1.

Without chromium these tests skip on a developer machine but FAIL under CI=true: CI's setup
installs chromium, and a browser test that silently skips proves nothing.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from support.human_run import PROMPTS, free_port, plain_responses, serving, write_eval

SHOTS = Path("/tmp/human-shots")  # a copy of a few screenshots, for a person to look at
HOSTILE = ('<script>window.__pwned = 1; document.title = "pwned";</script>'
           '<img src=x onerror="window.__pwned = 2"><b>bold?</b> & the answer is 5')


def _need(condition: bool, why: str) -> None:
    if condition:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{why} (CI must run the browser tests: scripts/setup.sh installs it)")
    pytest.skip(why)


@pytest.fixture(scope="module")
def chromium_path() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    _need(path is not None, "chromium is not installed (apt-get install chromium chromium-driver)")
    return path


@pytest.fixture(scope="module")
def browser(chromium_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need(False, "playwright is not installed (pip install 'hrlaif[test]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield b
        b.close()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hrlaif.cli", "human-eval", *args], capture_output=True, text=True, timeout=120)


def _link(run: Path, name: str, port: int) -> str:
    out = _cli("add-rater", str(run), name, "--url", f"http://127.0.0.1:{port}")
    assert out.returncode == 0, out.stderr
    link = out.stdout.strip()
    assert link.startswith(f"http://127.0.0.1:{port}/?token=")
    return link


def _shot(page, tmp_path: Path, name: str, keep: bool = False) -> None:
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
    if keep:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"))


def _ratings(run: Path) -> list[tuple]:
    with sqlite3.connect(run / "human" / "ratings.sqlite") as db:
        return db.execute("SELECT item_id, answer, choice FROM ratings ORDER BY id").fetchall()


def _answer_by_keyboard(page, count: int) -> list[str]:
    """Answer `count` items with single keys (y/n for satisfaction, 1/2/3 for pairwise); after each
    key, wait until the next page has replaced this one. Returns the keys pressed."""
    keys = []
    for n in range(count):
        heading = page.inner_text("h1")
        before = page.input_value("input[name=item]")
        key = ("y" if n % 3 else "n") if "acceptable" in heading else "123"[n % 3]
        assert page.is_visible(f'button[data-key="{key}"] kbd')  # the hint is on screen
        page.keyboard.press(key)
        page.wait_for_function("(b) => !document.querySelector('input[name=item]') || document.querySelector('input[name=item]').value !== b",
                               arg=before, timeout=15000)
        keys.append(key)
    return keys


def test_rater_answers_by_keyboard_and_kill_9_loses_nothing(tmp_path, browser):
    run = write_eval(tmp_path / "run", plain_responses())
    port = free_port()
    log = tmp_path / "server.log"
    with serving(run, port, log, "--raters-per-item", "1") as server:
        link = _link(run, "alice", port)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(link)
        assert page.url == f"http://127.0.0.1:{port}/"  # the token left the address bar
        assert "0 done" in page.inner_text(".count")
        _shot(page, tmp_path, "first-item", keep=True)
        keys = _answer_by_keyboard(page, 7)
        assert "7 done" in page.inner_text(".count")
        _shot(page, tmp_path, "after-7")
        open_prompt = page.inner_text(".prompt")
        saved = _ratings(run)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
    assert len(saved) == 7 and [c for _, _, c in saved] == [{"y": "yes", "n": "no", "3": "tie"}.get(k, k) for k in keys]
    assert _ratings(run) == saved  # nothing acknowledged was lost to SIGKILL
    with serving(run, port, log):
        page.reload()
        assert "7 done" in page.inner_text(".count")
        assert page.inner_text(".prompt") == open_prompt  # continues on the item it was showing
        total = 12 + 8  # 3 policies x 4 prompts, 2 arms x 4 prompts
        _answer_by_keyboard(page, total - 7)
        assert "All done" in page.inner_text("h1") and f"{total} done" in page.inner_text(".count")
        _shot(page, tmp_path, "done")
        rows = _ratings(run)
    assert len(rows) == total and len({i for i, _, _ in rows}) == total and rows[:7] == saved
    assert "token=" not in log.read_text()  # no access log carrying tokens


def test_keyboard_only_without_shortcuts_tab_and_enter(tmp_path, browser):
    run = write_eval(tmp_path / "run", plain_responses(("start", "hrlaif")))
    port = free_port()
    with serving(run, port, tmp_path / "server.log", "--raters-per-item", "1"):
        page = browser.new_page()
        page.goto(_link(run, "bob", port))
        before = page.input_value("input[name=item]")
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.tagName + ':' + (document.activeElement.value || '')")
        assert focused.startswith("BUTTON:")
        page.keyboard.press("Enter")
        page.wait_for_function("(b) => document.querySelector('input[name=item]').value !== b", arg=before)
        assert "1 done" in page.inner_text(".count") and len(_ratings(run)) == 1


def test_bad_or_missing_token_gets_403_and_sees_nothing(tmp_path, browser):
    run = write_eval(tmp_path / "run", plain_responses())
    port = free_port()
    with serving(run, port, tmp_path / "server.log"):
        good = _link(run, "carol", port)
        page = browser.new_page()
        for url in (f"http://127.0.0.1:{port}/", f"http://127.0.0.1:{port}/?token=not-a-token",
                    good + "x", f"http://127.0.0.1:{port}/answer"):
            response = page.goto(url)
            assert response.status == 403, url
            body = page.content()
            assert all(p.text not in body for p in PROMPTS) and "Draft" not in body and "Response" not in body
        _shot(page, tmp_path, "forbidden")
        post = urllib.request.Request(f"http://127.0.0.1:{port}/answer", data=b"item=1&choice=yes", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(post, timeout=5)
        assert refused.value.code == 403
        assert page.goto(good).status == 200  # the real link still works
    assert _ratings(run) == []


def test_hostile_response_is_shown_as_text_and_runs_nothing(tmp_path, browser):
    responses = plain_responses(("start", "hrlaif"))
    responses = {policy: {pid: HOSTILE for pid in texts} for policy, texts in responses.items()}
    run = write_eval(tmp_path / "run", responses)
    port = free_port()
    with serving(run, port, tmp_path / "server.log", "--raters-per-item", "1"):
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(_link(run, "dave", port))
        for n in range(3):  # satisfaction and pairwise pages alike
            cards = page.locator(".response")
            assert cards.count() >= 1
            for i in range(cards.count()):
                assert cards.nth(i).inner_text().strip() == HOSTILE  # the markup is visible, verbatim
                assert cards.nth(i).locator("script, img, b").count() == 0  # and none of it became elements
            assert page.evaluate("typeof window.__pwned") == "undefined" and page.title() != "pwned"
            html = page.content()
            assert "rlaif" not in html and "start" not in html.lower()  # arms are never named to the rater
            if n == 0:
                _shot(page, tmp_path, "hostile", keep=True)
            _answer_by_keyboard(page, 1)


def test_pairwise_page_is_blind_and_shows_both_responses(tmp_path, browser):
    run = write_eval(tmp_path / "run", plain_responses(("start", "hrlaif")))
    port = free_port()
    with serving(run, port, tmp_path / "server.log", "--raters-per-item", "1"):
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(_link(run, "erin", port))
        for _ in range(12):
            if "better" in page.inner_text("h1"):
                break
            _answer_by_keyboard(page, 1)
        assert "Which response is better?" in page.inner_text("h1")
        texts = [page.inner_text("#response-1"), page.inner_text("#response-2")]
        assert sorted(t.split(":")[0] for t in texts) == ["Draft 1", "Draft 2"]
        html = page.content()
        assert "rlaif" not in html and "start" not in html.lower()
        _shot(page, tmp_path, "pairwise", keep=True)
