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
from collections.abc import Iterator
from contextlib import contextmanager
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
        pytest.fail(f"{why} (CI must run the browser tests: scripts/setup.sh --test installs it)")
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


def _open(page, link: str) -> None:
    """Open a rater's link: the instructions come first, once; then the first item."""
    page.goto(link)
    assert "Before you start" in page.inner_text("h1") and "Content warning" in page.inner_text("main")
    page.click("form#start button")
    page.wait_for_selector("input[name=item]", state="attached")


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
        if page.locator("details.cw:not([open])").count():  # a harmful prompt: V shows it first
            page.keyboard.press("v")
            page.wait_for_selector("details.cw[open]")
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
        _open(page, link)
        assert page.url == f"http://127.0.0.1:{port}/"  # the token left the address bar
        assert "0 answered" in page.inner_text(".count")
        _shot(page, tmp_path, "first-item", keep=True)
        keys = _answer_by_keyboard(page, 7)
        assert "7 answered" in page.inner_text(".count")
        _shot(page, tmp_path, "after-7")
        open_prompt = page.inner_text(".prompt")
        saved = _ratings(run)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
    assert len(saved) == 7 and [c for _, _, c in saved] == [{"y": "yes", "n": "no", "3": "tie"}.get(k, k) for k in keys]
    assert _ratings(run) == saved  # nothing acknowledged was lost to SIGKILL
    with serving(run, port, log):
        page.reload()
        assert "7 answered" in page.inner_text(".count")
        assert page.inner_text(".prompt") == open_prompt  # continues on the item it was showing
        total = 12 + 8  # 3 policies x 4 prompts, 2 arms x 4 prompts
        _answer_by_keyboard(page, total - 7)
        assert "All done" in page.inner_text("h1") and f"{total} answered" in page.inner_text(".count")
        _shot(page, tmp_path, "done")
        rows = _ratings(run)
    assert len(rows) == total and len({i for i, _, _ in rows}) == total and rows[:7] == saved
    assert "token=" not in log.read_text()  # no access log carrying tokens


def test_keyboard_only_without_shortcuts_tab_and_enter(tmp_path, browser):
    run = write_eval(tmp_path / "run", plain_responses(("start", "hrlaif")))
    port = free_port()
    with serving(run, port, tmp_path / "server.log", "--raters-per-item", "1"):
        page = browser.new_page()
        _open(page, _link(run, "bob", port))
        before = page.input_value("input[name=item]")
        if page.locator("details.cw").count():  # a harmful prompt: its warning has the focus, Enter shows it
            page.keyboard.press("Enter")
            page.wait_for_function("() => document.activeElement.tagName === 'BUTTON'")  # the first answer takes the focus
        else:
            page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.tagName + ':' + (document.activeElement.value || '')")
        assert focused.startswith("BUTTON:") and focused != "BUTTON:skip"
        page.keyboard.press("Enter")
        page.wait_for_function("(b) => document.querySelector('input[name=item]').value !== b", arg=before)
        assert "1 answered" in page.inner_text(".count") and len(_ratings(run)) == 1


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


@contextmanager
def _rating(browser, tmp_path: Path, rater: str, responses: dict | None = None) -> Iterator[tuple[Path, object]]:
    """A served two-policy run (one rater per item) and `rater`'s page opened on it at 1280 px: (run, page)."""
    run = write_eval(tmp_path / "run", responses or plain_responses(("start", "hrlaif")))
    port = free_port()
    with serving(run, port, tmp_path / "server.log", "--raters-per-item", "1"):
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        _open(page, _link(run, rater, port))
        yield run, page


def test_hostile_response_is_shown_as_text_and_runs_nothing(tmp_path, browser):
    responses = plain_responses(("start", "hrlaif"))
    # One hostile text per policy (identical ones would be tied without raters and never shown).
    responses = {policy: {pid: HOSTILE + f" (draft {n})" for pid in texts} for n, (policy, texts) in enumerate(responses.items())}
    with _rating(browser, tmp_path, "dave", responses) as (run, page):
        kinds = set()
        while len(kinds) < 2:  # satisfaction and pairwise pages alike
            if page.locator("details.cw").count():
                page.click("details.cw summary")  # a harmful prompt waits behind its warning
            cards = page.locator(".response")
            assert cards.count() >= 1
            kinds.add(cards.count())
            for i in range(cards.count()):
                assert cards.nth(i).inner_text().strip().startswith(HOSTILE + " (draft ")  # the markup is visible, verbatim
                assert cards.nth(i).locator("script, img, b").count() == 0  # and none of it became elements
            assert page.evaluate("typeof window.__pwned") == "undefined" and page.title() != "pwned"
            html = page.content()
            assert "rlaif" not in html and "start" not in html.lower()  # arms are never named to the rater
            if len(kinds) == 1:
                _shot(page, tmp_path, "hostile", keep=True)
            _answer_by_keyboard(page, 1)


def test_pairwise_page_is_blind_and_shows_both_responses(tmp_path, browser):
    with _rating(browser, tmp_path, "erin") as (run, page):
        for _ in range(12):
            if "better" in page.inner_text("h1") and not page.locator("details.cw").count():
                break
            _answer_by_keyboard(page, 1)
        assert "Which response is better?" in page.inner_text("h1")
        texts = [page.inner_text("#response-1"), page.inner_text("#response-2")]
        assert sorted(t.split(":")[0] for t in texts) == ["Draft 1", "Draft 2"]
        html = page.content()
        assert "rlaif" not in html and "start" not in html.lower()
        _shot(page, tmp_path, "pairwise", keep=True)


def _skip_until(page, wanted) -> None:
    for _ in range(20):
        if wanted(page):
            return
        before = page.input_value("input[name=item]")
        page.keyboard.press("s")
        page.wait_for_function("(b) => document.querySelector('input[name=item]').value !== b", arg=before)
    raise AssertionError("no such item within 20")


def test_harmful_prompt_waits_behind_a_warning_and_cannot_be_answered_unseen(tmp_path, browser):
    with _rating(browser, tmp_path, "fay") as (run, page):
        _skip_until(page, lambda p: p.locator("details.cw").count() > 0)
        skipped = len(_ratings(run))
        prompt = next(p.text for p in PROMPTS if p.category == "harmful")
        assert page.is_visible("details.cw summary") and "Content warning" in page.inner_text("details.cw summary")
        assert not page.is_visible(f"text={prompt}") and not page.is_visible("button.answer")
        assert page.is_visible('button[data-key="s"]')  # skipping without reading stays possible
        _shot(page, tmp_path, "content-warning", keep=True)
        item = page.input_value("input[name=item]")
        for key in ("y", "1", "n"):  # an answer key cannot answer what was never shown
            page.keyboard.press(key)
        page.wait_for_timeout(300)
        assert page.input_value("input[name=item]") == item and len(_ratings(run)) == skipped
        page.keyboard.press("Enter")  # the warning has the focus: Enter shows the prompt
        page.wait_for_selector("details.cw[open]")
        assert page.is_visible(f"text={prompt}") and page.is_visible("button.answer")
        page.wait_for_function("() => document.activeElement.classList.contains('answer')")  # and Enter again answers
        page.keyboard.press("Enter")
        page.wait_for_function("(b) => document.querySelector('input[name=item]').value !== b", arg=item)
        assert len(_ratings(run)) == skipped + 1 and _ratings(run)[-1][0] == int(item)


def test_undo_key_takes_back_the_last_answer(tmp_path, browser):
    with _rating(browser, tmp_path, "gus") as (run, page):
        assert not page.locator('[data-key="u"]').count()
        first = page.input_value("input[name=item]")
        _answer_by_keyboard(page, 1)
        assert "1 answered" in page.inner_text(".count") and page.is_visible('[data-key="u"]')
        page.keyboard.press("u")
        page.wait_for_function("(b) => document.querySelector('input[name=item]').value === b", arg=first)
        assert "0 answered" in page.inner_text(".count") and _ratings(run) == []


def test_phone_width_keeps_the_progress_bar_and_drops_key_hints(tmp_path, browser):
    run = write_eval(tmp_path / "run", plain_responses(("start", "hrlaif")))
    port = free_port()
    with serving(run, port, tmp_path / "server.log", "--raters-per-item", "1"):
        context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        page = context.new_page()
        page.goto(_link(run, "hal", port))
        assert not page.is_visible("kbd") and not page.is_visible(".keys")  # the instructions name no keys
        page.tap("form#start button")
        page.wait_for_selector("input[name=item]", state="attached")
        for _ in range(4):
            track = page.locator(".progress .track").bounding_box()
            assert track["width"] > 150, track  # it had collapsed to a few pixels beside the names
            assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing runs off the side
            assert page.locator("kbd").count() > 0 and not any(page.locator("kbd").nth(i).is_visible() for i in range(page.locator("kbd").count()))
            assert not page.is_visible(".hint .keys") and page.is_visible('button[data-key="s"]')
            if page.locator("details.cw:not([open])").count():
                page.tap("details.cw summary")
            before = page.input_value("input[name=item]")
            page.locator("button.answer").first.tap()
            page.wait_for_function("(b) => document.querySelector('input[name=item]').value !== b", arg=before)
        assert "4 answered" in page.inner_text(".count")
        _shot(page, tmp_path, "phone", keep=True)
        context.close()
