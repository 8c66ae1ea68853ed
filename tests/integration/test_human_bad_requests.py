"""`human-eval serve` as a real server on 127.0.0.1 against answers no button sends (issue 27): an
item id of 23 digits overflowed SQLite's integers and "²" passed isdigit() but not int(), both
HTTP 500. Each is now a 400 page that says the answer was not saved: nothing is stored, no traceback."""

from __future__ import annotations

import http.cookiejar
import urllib.error
import urllib.parse
import urllib.request

import pytest
from typer.testing import CliRunner

from hrlaif.cli import app
from hrlaif.human.store import RatingStore

from support.human_run import free_port, plain_responses, serving, write_eval

runner = CliRunner()

BAD_ITEMS = ["1" * 23, "9" * 19, "\u00b2", "\u0661", "-1", "1e3", " 1", ""]


@pytest.fixture(scope="module")
def rater(tmp_path_factory):
    """(base URL, an opener holding a rater's cookie, the run, the server log) of a served run."""
    tmp = tmp_path_factory.mktemp("human-bad")
    run = write_eval(tmp / "run", plain_responses(("start", "rlaif")))
    result = runner.invoke(app, ["human-eval", "add-rater", str(run), "ann"])
    assert result.exit_code == 0, result.output
    link = result.stdout.strip().splitlines()[-1]
    port = free_port()
    log = tmp / "serve.log"
    with serving(run, port, log):
        base = f"http://127.0.0.1:{port}"
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with opener.open(link.replace("127.0.0.1:8765", f"127.0.0.1:{port}"), timeout=10) as r:
            assert r.status == 200
        yield base, opener, run, log


@pytest.mark.parametrize("item", BAD_ITEMS)
def test_an_item_id_no_button_sends_is_a_400_not_a_500(rater, item):
    base, opener, run, log = rater
    data = urllib.parse.urlencode({"item": item, "choice": "yes"}).encode()
    with pytest.raises(urllib.error.HTTPError) as refused:
        opener.open(urllib.request.Request(base + "/answer", data=data, method="POST"), timeout=10)
    assert refused.value.code == 400 and "not saved" in refused.value.read().decode()
    assert RatingStore.open(run).ratings() == []
    assert "Traceback" not in log.read_text()
