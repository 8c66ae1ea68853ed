"""The raters' web app: one server-rendered page per item, one form post per answer.

Nothing is shown without a valid rater token: a link `/?token=...` (printed by
`hrlaif human-eval add-rater`) sets an HttpOnly cookie and redirects to `/`, so the token
leaves the address bar; any request without a valid token gets a bare 403. Model responses
are untrusted text: Jinja2 autoescapes them, and a Content-Security-Policy with a per-page
nonce stops any script that is not ours even if escaping were ever missed. The page works
with Tab and Enter alone; a few lines of script add the single-key shortcuts.

A rater first sees the instructions (again at /help); a harmful prompt stays behind a content
warning until they open it. A form post that is not an answer to the item shown gets a 4xx page
that says what was wrong (a silent redirect would look like a saved answer); only a repeat of an
answer already saved (a double submit) redirects as a success does.
"""

from __future__ import annotations

import secrets
import socket
from pathlib import Path
from urllib.parse import parse_qs

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.concurrency import run_in_threadpool

from hrlaif.errors import HrlaifError
from hrlaif.human.items import PAIRWISE, PAIRWISE_RUBRIC, RUBRICS, START, reference_line
from hrlaif.human.store import Assignment, RatingStore

CHOICES = ("yes", "no", "1", "2", "tie", "skip")  # what the answer buttons send
CATEGORY_NAMES = {"math": "Math", "multiple_choice": "Multiple choice", "harmful": "Harmful request", "open_ended": "Open-ended"}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _templates() -> Environment:
    return Environment(loader=PackageLoader("hrlaif.human", "templates"), autoescape=True, undefined=StrictUndefined)


def create_app(run_dir: Path) -> FastAPI:
    store = RatingStore.open(run_dir)
    cookie = f"hrlaif_rater_{store.meta('store_id')}"  # per store: two runs served from one host keep apart
    env = _templates()
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    def forbidden() -> Response:
        return PlainTextResponse("403 Forbidden: this page needs a valid rater link.", status_code=403, headers=SECURITY_HEADERS)

    @app.middleware("http")
    async def authenticate(request: Request, call_next):
        token = request.query_params.get("token")
        if token is not None:
            rater = await run_in_threadpool(store.rater_for_token, token)
            if rater is None:
                return forbidden()
            response = RedirectResponse("/", status_code=303, headers=SECURITY_HEADERS)
            response.set_cookie(cookie, token, httponly=True, samesite="strict", max_age=90 * 24 * 3600)
            return response
        rater = await run_in_threadpool(store.rater_for_token, request.cookies.get(cookie))
        if rater is None:
            return forbidden()
        request.state.rater = rater
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    def page(template: str, **context) -> HTMLResponse:
        nonce = secrets.token_urlsafe(16)
        html = env.get_template(template).render(nonce=nonce, **context)
        csp = (f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
        return HTMLResponse(html, headers={"Content-Security-Policy": csp})

    async def problem(request: Request, status: int, title: str, message: str) -> HTMLResponse:
        """A page that says what was wrong with a post (nothing was saved), with a way back to the item."""
        rater = request.state.rater
        progress = await run_in_threadpool(store.progress, rater)
        response = page("problem.html", rater=rater.name, progress=progress, title=title, message=message)
        response.status_code = status
        return response

    @app.get("/")
    def show(request: Request) -> HTMLResponse:
        rater = request.state.rater
        if not store.welcomed(rater):
            return page("welcome.html", rater=rater.name, progress=store.progress(rater), first=True)
        assignment = store.current(rater)
        progress = store.progress(rater)
        last = store.last_answer(rater)
        if assignment is None:
            return page("done.html", rater=rater.name, progress=progress, last=last)
        return page("item.html", rater=rater.name, progress=progress, last=last, **_item_view(assignment))

    @app.get("/help")
    def help_page(request: Request) -> HTMLResponse:
        rater = request.state.rater
        return page("welcome.html", rater=rater.name, progress=store.progress(rater), first=False)

    @app.post("/start")
    async def start(request: Request) -> Response:
        await run_in_threadpool(store.set_welcomed, request.state.rater)
        return RedirectResponse("/", status_code=303)

    @app.post("/answer")
    async def answer(request: Request) -> Response:
        rater = request.state.rater
        form = await _form(request)
        item, choice = form.get("item", ""), form.get("choice", "")
        # An item id is a small ASCII integer: "²" passes isdigit() but not int(), and 23 digits
        # overflow SQLite's 64-bit integers; neither is an item.
        if not (item.isascii() and item.isdigit() and len(item) <= 18) or not choice:
            return await problem(request, 400, "That answer was not saved",
                           "The form did not say which item and which answer (it needs both 'item' and 'choice').")
        if choice not in CHOICES:
            return await problem(request, 400, "That answer was not saved", f"'{choice[:40]}' is not one of the answers this page offers.")
        try:
            saved = await run_in_threadpool(store.record, rater, int(item), choice)
        except HrlaifError:
            return await problem(request, 400, "That answer was not saved", f"'{choice[:40]}' is not an answer to this kind of item.")
        if saved:
            return RedirectResponse("/", status_code=303)
        before = await run_in_threadpool(store.answer_of, rater, int(item))
        if before == choice:  # the same answer sent twice (a double click): it is saved, carry on
            return RedirectResponse("/", status_code=303)
        if before is not None:
            return await problem(request, 409, "You already answered that item",
                           "Your earlier answer is kept. To change your last answer, use Undo on the next page.")
        return await problem(request, 400, "That answer was not saved", f"Item {item} is not an item you were given.")

    @app.post("/undo")
    async def undo(request: Request) -> Response:
        rater = request.state.rater
        rating = (await _form(request)).get("rating", "")
        if not rating.isdigit():
            return await problem(request, 400, "Nothing was undone", "The form did not say which answer to take back.")
        if not await run_in_threadpool(store.undo, rater, int(rating)):
            return await problem(request, 409, "Nothing was undone",
                           "That answer is no longer your last one (was Undo pressed twice?). Your answers are unchanged.")
        return RedirectResponse("/", status_code=303)

    return app


async def _form(request: Request) -> dict[str, str]:
    """The posted form's fields (first value of each)."""
    return {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}


def _item_view(a: Assignment) -> dict:
    """What the item page shows: never the policy names."""
    item = a.item
    p = item.payload
    view = {
        "item_id": a.item_id,
        "kind": item.kind,
        "category": CATEGORY_NAMES.get(item.category, item.category),
        "warn": item.category == "harmful",
        "messages": p["messages"],
        "reference": reference_line(item.category, p.get("reference"), p.get("choices")),
    }
    if item.kind == PAIRWISE:
        second = item.policy if a.first == START else START
        view |= {"rubric": PAIRWISE_RUBRIC, "responses": [p["responses"][a.first], p["responses"][second]]}
    else:
        view |= {"rubric": RUBRICS.get(item.category, RUBRICS["open_ended"]), "response": p["response"]}
    return view


def serve(run_dir: Path, sock: socket.socket) -> None:
    """Run the app with uvicorn on `sock` (bound by the caller, so a busy port is our one-line
    error, not uvicorn's) until interrupted. Access logs are off: they would carry the token."""
    uvicorn.Server(uvicorn.Config(create_app(run_dir), access_log=False, log_level="warning")).run(sockets=[sock])
