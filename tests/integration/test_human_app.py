"""The raters' app over real HTTP (uvicorn on 127.0.0.1, a cookie-keeping client that does not
follow redirects, so a 303 and a 400 can be told apart): first-visit instructions, posts that
are not answers, undo, skips, the content warning, identical texts never served."""

from __future__ import annotations

import http.cookiejar
import re
import sqlite3
import urllib.error
import urllib.parse
import urllib.request

from hrlaif.human.store import RatingStore

from support.human_run import app_in_thread, free_port, plain_responses, serving, write_eval


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Client:
    """One rater's browser: keeps the cookie, reports every status as it came."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect())

    def request(self, path: str, form: dict | None = None) -> tuple[int, str, dict]:
        data = None if form is None else urllib.parse.urlencode(form).encode()
        try:
            with self.opener.open(urllib.request.Request(self.base + path, data=data), timeout=10) as r:
                return r.status, r.read().decode(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), dict(e.headers)

    def page(self) -> str:
        status, body, _ = self.request("/")
        assert status == 200, (status, body)
        return body


def _ratings(run) -> list[tuple]:
    with sqlite3.connect(run / "human" / "ratings.sqlite") as db:
        return db.execute("SELECT item_id, answer, choice FROM ratings ORDER BY id").fetchall()


def _item(page: str) -> str:
    return re.search(r'name="item" value="(\d+)"', page).group(1)


def _login(run, base: str, name: str = "alice", welcome: bool = True) -> Client:
    token = RatingStore.open(run).add_rater(name)
    client = Client(base)
    status, _, headers = client.request(f"/?token={token}")
    assert status == 303 and headers["location"] == "/"
    if welcome:
        assert client.request("/start", {})[0] == 303
    return client


def _run(tmp_path, policies=("start", "hrlaif"), k=1, responses=None):
    run = write_eval(tmp_path / "run", responses or plain_responses(policies))
    RatingStore.open(run).set_raters_per_item(k)
    return run


def test_first_visit_shows_instructions_with_a_content_warning_then_the_items(tmp_path):
    run = _run(tmp_path)
    with app_in_thread(run) as base:
        client = _login(run, base, welcome=False)
        first = client.page()
        assert "Before you start" in first and "Content warning" in first and 'action="/start"' in first
        assert 'name="item"' not in first  # no item before the instructions
        assert client.request("/start", {})[0] == 303
        assert 'name="item"' in client.page()
        again = client.request("/help")[1]  # the instructions stay one link away
        assert "Instructions" in again and 'href="/"' in again and 'action="/start"' not in again
    assert _ratings(run) == []


def test_a_post_that_is_not_an_answer_gets_400_with_a_message_and_records_nothing(tmp_path):
    run = _run(tmp_path)
    with app_in_thread(run) as base:
        client = _login(run, base)
        page = client.page()
        item = _item(page)
        satisfaction = "Is this response acceptable?" in page
        wrong_kind = "1" if satisfaction else "yes"
        for form, message in [
            ({}, "it needs both &#39;item&#39; and &#39;choice&#39;"),
            ({"item": "abc", "choice": "yes"}, "it needs both"),
            ({"item": item}, "it needs both"),
            ({"item": item, "choice": "maybe"}, "&#39;maybe&#39; is not one of the answers this page offers"),
            ({"item": item, "choice": wrong_kind}, f"&#39;{wrong_kind}&#39; is not an answer to this kind of item"),
            ({"item": "99999", "choice": "skip"}, "Item 99999 is not an item you were given"),
        ]:
            status, body, _ = client.request("/answer", form)
            assert status == 400 and "That answer was not saved" in body and message in body, (form, status, body[-600:])
            assert 'href="/"' in body  # and a way back
        assert _ratings(run) == []
        good = "yes" if satisfaction else "tie"
        assert client.request("/answer", {"item": item, "choice": good})[0] == 303
        assert client.request("/answer", {"item": item, "choice": good})[0] == 303  # a double submit: saved once, no error
        status, body, _ = client.request("/answer", {"item": item, "choice": "skip"})
        assert status == 409 and "You already answered that item" in body and "Undo" in body
    assert len(_ratings(run)) == 1


def test_undo_shows_the_last_item_again_and_a_second_undo_changes_nothing(tmp_path):
    run = _run(tmp_path)
    with app_in_thread(run) as base:
        client = _login(run, base)
        first = client.page()
        assert 'action="/undo"' not in first  # nothing to undo yet
        item = _item(first)
        choice = "no" if "acceptable" in first else "2"
        assert client.request("/answer", {"item": item, "choice": choice})[0] == 303
        second = client.page()
        assert _item(second) != item and "<strong>1</strong> answered" in second
        rating = re.search(r'name="rating" value="(\d+)"', second).group(1)
        assert client.request("/undo", {"rating": rating})[0] == 303
        back = client.page()
        assert _item(back) == item and "<strong>0</strong> answered" in back and _ratings(run) == []
        status, body, _ = client.request("/undo", {"rating": rating})
        assert status == 409 and "Nothing was undone" in body
        assert client.request("/undo", {"rating": "x"})[0] == 400
        assert client.request("/answer", {"item": item, "choice": "skip"})[0] == 303
        assert _item(client.page()) == _item(second)  # then on to the item that was showing
    assert _ratings(run) == [(int(item), "skip", "skip")]


def test_done_page_counts_a_skip_apart_from_answers(tmp_path):
    run = _run(tmp_path)
    with app_in_thread(run) as base:
        client = _login(run, base)
        n = 0
        while 'name="item"' in (page := client.page()):
            choice = "skip" if n == 0 else "yes" if "acceptable" in page else "tie"
            assert client.request("/answer", {"item": _item(page), "choice": choice})[0] == 303
            n += 1
        assert n == 12  # 2 policies x 4 prompts, 1 arm x 4 prompts
        assert "You answered 11 items and skipped 1;" in " ".join(page.split())
        assert "<strong>11</strong> answered · 1 skipped · 0 to go" in page
        assert 'action="/undo"' in page  # the last answer can still be taken back


def test_harmful_prompt_is_behind_a_content_warning(tmp_path):
    run = _run(tmp_path)
    with app_in_thread(run) as base:
        client = _login(run, base)
        seen = set()
        while 'name="item"' in (page := client.page()):
            harmful = "How do I pick a lock" in page
            if harmful:
                warning, rest = page.split('<details class="cw" id="cw">', 1)[1].split("</details>", 1)
                assert "Content warning" in warning and "How do I pick a lock" in warning  # inside the closed details
                assert "How do I pick a lock" not in rest and "<details class=\"cw\" id=\"cw\" open" not in page
                seen.add("pairwise" if "Which response is better?" in page else "satisfaction")
            else:
                assert 'class="cw"' not in page
            assert client.request("/answer", {"item": _item(page), "choice": "skip"})[0] == 303
        assert seen == {"satisfaction", "pairwise"}


def test_identical_texts_are_never_served_and_serve_says_so(tmp_path):
    responses = plain_responses(("start", "rlaif"))
    responses["rlaif"]["m1"] = responses["start"]["m1"] + "\n"
    run = _run(tmp_path, responses=responses)
    port = free_port()
    log = tmp_path / "server.log"
    with serving(run, port, log):
        client = _login(run, f"http://127.0.0.1:{port}")
        served = 0
        while 'name="item"' in (page := client.page()):
            assert "What is 2 + 3?" not in page or "Which response is better?" not in page  # the identical pair
            assert client.request("/answer", {"item": _item(page), "choice": "yes" if "acceptable" in page else "1"})[0] == 303
            served += 1
    assert served == 7 + 3  # 8 texts less the repeated one; 4 pairs less the identical one
    said = " ".join(log.read_text().split())
    assert "7 satisfaction items (1 of them a text several policies gave" in said
    assert "3 pairwise items (and 1 pair(s) of identical texts, tied without raters)" in said
