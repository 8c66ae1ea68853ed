"""The raters' web app: one server-rendered page per item, one form post per answer.

Nothing is shown without a valid rater token: a link `/?token=...` (printed by
`hrlaif human-eval add-rater`) sets an HttpOnly cookie and redirects to `/`, so the token
leaves the address bar; any request without a valid token gets a bare 403. Model responses
are untrusted text: Jinja2 autoescapes them, and a Content-Security-Policy with a per-page
nonce stops any script that is not ours even if escaping were ever missed. The page works
with Tab and Enter alone; a few lines of script add the single-key shortcuts.
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

    @app.get("/")
    def show(request: Request) -> HTMLResponse:
        rater = request.state.rater
        assignment = store.current(rater)
        progress = store.progress(rater)
        if assignment is None:
            return page("done.html", rater=rater.name, progress=progress)
        return page("item.html", rater=rater.name, progress=progress, **_item_view(assignment))

    @app.post("/answer")
    async def answer(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        item, choice = form.get("item", [""])[0], form.get("choice", [""])[0]
        # An item id is a small ASCII integer: "²" passes isdigit() but not int(), and 23 digits
        # overflow SQLite's 64-bit integers; neither is an item, so the page is shown again.
        if item.isascii() and item.isdigit() and len(item) <= 18 and choice:
            try:
                await run_in_threadpool(store.record, request.state.rater, int(item), choice)
            except HrlaifError:  # a choice no button sends: show the item again
                pass
        return RedirectResponse("/", status_code=303)

    return app


def _item_view(a: Assignment) -> dict:
    """What the item page shows: never the policy names."""
    item = a.item
    p = item.payload
    view = {
        "item_id": a.item_id,
        "kind": item.kind,
        "category": CATEGORY_NAMES.get(item.category, item.category),
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
