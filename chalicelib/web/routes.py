"""The dashboard's routes: each reads the session, checks CSRF on a form, then calls a view
(web/views.py) or a service and renders a template. Registered in app.py as one blueprint."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from chalice.app import Blueprint, Request, Response

from chalicelib import deps as deps_module
from chalicelib.deps import Deps
from chalicelib.domain.entities import Actor, Tenant
from chalicelib.domain.errors import Conflict, DomainError, NotFound, Unauthorized, ValidationFailed
from chalicelib.domain.responses import SigningKeyCreated
from chalicelib.domain.schemas import (
    ZONE_NAMES,
    ApiKeyCreate,
    EndpointCreate,
    EndpointUpdate,
    JobCreate,
    JobUpdate,
    OneShotHint,
    PauseRequest,
    parse,
)
from chalicelib.domain.timeutil import iso
from chalicelib.services import accounts, controls, endpoints, jobs, signing_keys
from chalicelib.web import forms, render, session, views
from chalicelib.web.paths import PREFIX, ROOT
from chalicelib.web.static_files import static_response

bp = Blueprint(__name__)
ANY = ["*/*"]
PARTIAL_HEADER = "x-cronpilot-partial"
PAUSE_CHOICES = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
REFUSED = "This form expired or did not come from this page. Go back, reload and try again."
DONE = {
    "paused": "Paused.",
    "resumed": "Resumed.",
    "queued": "A run was queued for now.",
    "saved": "Saved.",
    "revoked": "Key revoked.",
}


@dataclass
class Ctx:
    """One request to a page: the dependencies, the request, the session and the form."""

    deps: Deps
    request: Request
    web: session.WebSession | None
    form: forms.Form = field(default_factory=dict)

    @property
    def tenant(self) -> Tenant:
        assert self.web is not None
        return self.web.tenant

    @property
    def actor(self) -> Actor:
        assert self.web is not None
        return Actor("apiKey", self.web.key.id)

    @property
    def query(self) -> dict[str, str]:
        return dict(self.request.query_params or {})

    @property
    def secure(self) -> bool:
        return (self.request.headers.get("x-forwarded-proto") or "").lower() == "https"

    def render(self, template: str, code: int = 200, /, **context: Any) -> Response:
        """The page, or only its live block when the refresh script asks for it."""
        context.setdefault("done", DONE.get(self.query.get("done", ""), ""))
        context.update(
            root=ROOT,
            csrf=self.web.csrf if self.web else "",
            tenant=self.web.tenant if self.web else None,
            path=self.request.context.get("resourcePath", ""),
        )
        if self.request.headers.get(PARTIAL_HEADER):
            body = render.block(template, "live", context)
        else:
            body = render.page(template, context)
        return html(body, code)


def html(body: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """An HTML answer that no cache keeps (pages show one tenant's data)."""
    sent: dict[str, str | list[str]] = {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
    }
    sent.update(headers or {})
    return Response(body=body, status_code=status, headers=sent)


def redirect(location: str, headers: dict[str, str] | None = None) -> Response:
    """303 See Other: after a form, the browser GETs the result."""
    sent: dict[str, str | list[str]] = {"Location": location, "Cache-Control": "no-store"}
    sent.update(headers or {})
    return Response(body="", status_code=303, headers=sent)


def _error_page(ctx: Ctx, status: int, title: str, message: str) -> Response:
    return ctx.render("error.html", status, title=title, message=message)


View = Callable[..., Response]


def page(
    path: str, methods: tuple[str, ...] = ("GET",), public: bool = False
) -> Callable[[View], View]:
    """Declare a page: signed-in unless `public`, CSRF-checked when it takes a form."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapped(**kwargs: str) -> Response:
            request = bp.current_request
            assert request is not None
            d = deps_module.get()
            cookie = session.read_cookie(request.headers.get("cookie"), session.COOKIE)
            ctx = Ctx(d, request, session.read_session(d, cookie))
            if ctx.web is None and not public:
                if request.method != "GET" or request.headers.get(PARTIAL_HEADER):
                    return _error_page(ctx, 401, "Signed out", "Your session ended: sign in again.")
                return redirect(f"{ROOT}/signin?" + urlencode({"next": _next_of(request)}))
            if request.method == "POST":
                ctx.form = forms.parse_form(request.raw_body)
                if not public and not session.tokens_match(
                    ctx.web.csrf if ctx.web else None, ctx.form.get("csrf")
                ):
                    return _error_page(
                        ctx,
                        403,
                        "Form refused",
                        REFUSED,
                    )
            try:
                return view(ctx, **kwargs)
            except NotFound as exc:
                return _error_page(ctx, 404, "Not found", exc.message)
            except (ValidationFailed, Conflict) as exc:
                return _error_page(ctx, exc.status, "Not possible", exc.message)

        bp.route(PREFIX + path, methods=list(methods), content_types=ANY)(wrapped)
        return view

    return decorate


def _next_of(request: Request) -> str:
    route = str(request.context.get("path") or "")
    return route if route.startswith(ROOT) else ROOT


def _safe_next(value: str | None) -> str:
    # Only the dashboard's own pages: never an open redirect.
    if value and value.startswith(ROOT) and "//" not in value and "\\" not in value:
        return value
    return ROOT


# --- the front door ---------------------------------------------------------------------


@bp.route("/", methods=["GET"])
def front() -> Response:
    return redirect(ROOT)


@bp.route(PREFIX + "/static/{name}", methods=["GET"])
def static(name: str) -> Response:
    return static_response(name)


@page("/signin", ("GET", "POST"), public=True)
def signin(ctx: Ctx) -> Response:
    given = session.read_cookie(ctx.request.headers.get("cookie"), session.SIGNIN_COOKIE)
    next_page = _safe_next(ctx.form.get("next") or ctx.query.get("next"))
    error = ""
    if ctx.request.method == "POST":
        if not session.tokens_match(given, ctx.form.get("csrf")):
            return _error_page(
                ctx, 403, "Form refused", "This form expired. Reload the page and try again."
            )
        try:
            _, sealed = session.open_session(ctx.deps, ctx.form.get("api_key", ""))
        except Unauthorized as exc:
            error = exc.message
        else:
            max_age = int(session.LIFETIME.total_seconds())
            cookie = session.cookie_header(session.COOKIE, sealed, ROOT, max_age, ctx.secure)
            return redirect(next_page, {"Set-Cookie": cookie})
    token = session.new_token()
    cookie = session.cookie_header(session.SIGNIN_COOKIE, token, ROOT, 3600, ctx.secure)
    response = ctx.render(
        "signin.html", 401 if error else 200, token=token, next=next_page, error=error
    )
    response.headers["Set-Cookie"] = cookie
    return response


@page("/signout", ("POST",))
def signout(ctx: Ctx) -> Response:
    gone = session.cookie_header(session.COOKIE, "", ROOT, 0, ctx.secure)
    return redirect(f"{ROOT}/signin", {"Set-Cookie": gone})


# --- overview ---------------------------------------------------------------------------


@page("")
def overview(ctx: Ctx) -> Response:
    window = ctx.query.get("window") or "24h"
    job_id = ctx.query.get("job") or None
    return ctx.render("overview.html", **views.overview(ctx.deps, ctx.tenant, window, job_id))


# --- jobs -------------------------------------------------------------------------------


@page("/jobs")
def job_list(ctx: Ctx) -> Response:
    return ctx.render("jobs.html", **views.jobs_page(ctx.deps, ctx.tenant))


@page("/jobs/new", ("GET", "POST"))
def job_new(ctx: Ctx) -> Response:
    if ctx.request.method == "POST":
        try:
            job = jobs.create_job(ctx.deps, ctx.tenant, parse(JobCreate, forms.job_body(ctx.form)))
        except DomainError as exc:
            return _job_form(ctx, None, forms.errors_of(exc), 400)
        return redirect(f"{ROOT}/jobs/{job.id}")
    return _job_form(ctx, None, forms.FormErrors())


@page("/jobs/{job_id}/edit", ("GET", "POST"))
def job_edit(ctx: Ctx, job_id: str) -> Response:
    job = jobs.get_job(ctx.deps, ctx.tenant, job_id)
    if ctx.request.method == "POST":
        try:
            request = parse(JobUpdate, forms.job_body(ctx.form))
            jobs.update_job(ctx.deps, ctx.tenant, job_id, request)
        except DomainError as exc:
            return _job_form(ctx, job, forms.errors_of(exc), 400)
        return redirect(f"{ROOT}/jobs/{job_id}?done=saved")
    return _job_form(ctx, job, forms.FormErrors())


def _job_form(ctx: Ctx, job: Any, errors: forms.FormErrors, status: int = 200) -> Response:
    values = ctx.form or forms.job_form(job)
    return ctx.render("job_form.html", status, job=job, values=values, errors=errors)


@page("/jobs/{job_id}")
def job_detail(ctx: Ctx, job_id: str) -> Response:
    return ctx.render("job.html", **views.job_detail(ctx.deps, ctx.tenant, job_id))


@page("/jobs/{job_id}/pause", ("POST",))
def job_pause(ctx: Ctx, job_id: str) -> Response:
    jobs.pause_job(ctx.deps, ctx.tenant, job_id)
    return redirect(f"{ROOT}/jobs/{job_id}?done=paused")


@page("/jobs/{job_id}/resume", ("POST",))
def job_resume(ctx: Ctx, job_id: str) -> Response:
    jobs.resume_job(ctx.deps, ctx.tenant, job_id)
    return redirect(f"{ROOT}/jobs/{job_id}?done=resumed")


# --- endpoints --------------------------------------------------------------------------


@page("/jobs/{job_id}/endpoints/new", ("GET", "POST"))
def endpoint_new(ctx: Ctx, job_id: str) -> Response:
    job = jobs.get_job(ctx.deps, ctx.tenant, job_id)
    if ctx.request.method == "POST":
        try:
            body, found = forms.endpoint_body(ctx.form)
            request = forms.checked(EndpointCreate, body, found, ctx.form.get("schedule", ""))
            created = endpoints.create_endpoint(ctx.deps, ctx.tenant, job_id, request)
        except forms.FormErrors as errors:
            return _endpoint_form(ctx, job, None, errors, 400)
        except DomainError as exc:
            return _endpoint_form(
                ctx, job, None, forms.errors_of(exc, ctx.form.get("schedule", "")), 400
            )
        return redirect(f"{ROOT}/endpoints/{created.id}")
    return _endpoint_form(ctx, job, None, forms.FormErrors())


@page("/endpoints/{endpoint_id}/edit", ("GET", "POST"))
def endpoint_edit(ctx: Ctx, endpoint_id: str) -> Response:
    endpoint = endpoints.get_endpoint(ctx.deps, ctx.tenant, endpoint_id)
    job = jobs.get_job(ctx.deps, ctx.tenant, endpoint.job_id)
    if ctx.request.method == "POST":
        try:
            body, found = forms.endpoint_body(ctx.form)
            request = forms.checked(EndpointUpdate, body, found, ctx.form.get("schedule", ""))
            endpoints.update_endpoint(ctx.deps, ctx.tenant, job.id, endpoint_id, request)
        except forms.FormErrors as errors:
            return _endpoint_form(ctx, job, endpoint, errors, 400)
        except DomainError as exc:
            refused = forms.errors_of(exc, ctx.form.get("schedule", ""))
            return _endpoint_form(ctx, job, endpoint, refused, 400)
        return redirect(f"{ROOT}/endpoints/{endpoint_id}?done=saved")
    return _endpoint_form(ctx, job, endpoint, forms.FormErrors())


def _endpoint_form(
    ctx: Ctx, job: Any, endpoint: Any, errors: forms.FormErrors, status: int = 200
) -> Response:
    values = ctx.form or forms.endpoint_form(endpoint)
    return ctx.render(
        "endpoint_form.html",
        status,
        job=job,
        endpoint=endpoint,
        values=values,
        errors=errors,
        zones=ZONE_NAMES,
        methods=("GET", "POST", "PUT", "PATCH", "DELETE"),
    )


@page("/endpoints/{endpoint_id}")
def endpoint_detail(ctx: Ctx, endpoint_id: str) -> Response:
    data = views.endpoint_detail(ctx.deps, ctx.tenant, endpoint_id, ctx.query)
    return ctx.render("endpoint.html", **data)


@page("/endpoints/{endpoint_id}/pause", ("POST",))
def endpoint_pause(ctx: Ctx, endpoint_id: str) -> Response:
    span = PAUSE_CHOICES.get(ctx.form.get("for", ""))
    if span is None:
        raise ValidationFailed.field("for", "choose 1h, 24h or 7d")
    until = ctx.deps.clock.now() + span
    request = parse(PauseRequest, {"pausedUntil": iso(until)})
    controls.set_pause(ctx.deps, ctx.tenant, endpoint_id, request, ctx.actor)
    return redirect(f"{ROOT}/endpoints/{endpoint_id}?done=paused")


@page("/endpoints/{endpoint_id}/resume", ("POST",))
def endpoint_resume(ctx: Ctx, endpoint_id: str) -> Response:
    controls.resume(ctx.deps, ctx.tenant, endpoint_id, ctx.actor)
    return redirect(f"{ROOT}/endpoints/{endpoint_id}?done=resumed")


@page("/endpoints/{endpoint_id}/run-now", ("POST",))
def endpoint_run_now(ctx: Ctx, endpoint_id: str) -> Response:
    hint = OneShotHint(next_run_in_ms=0, reason="Run now, from the dashboard")
    controls.oneshot_hint(ctx.deps, ctx.tenant, endpoint_id, hint, ctx.actor)
    return redirect(f"{ROOT}/endpoints/{endpoint_id}?done=queued")


# --- runs and sessions ------------------------------------------------------------------


@page("/runs/{run_id}")
def run_detail(ctx: Ctx, run_id: str) -> Response:
    return ctx.render("run.html", **views.run_detail(ctx.deps, ctx.tenant, run_id))


@page("/sessions/{session_id}")
def session_detail(ctx: Ctx, session_id: str) -> Response:
    return ctx.render("session.html", **views.session_detail(ctx.deps, ctx.tenant, session_id))


# --- keys -------------------------------------------------------------------------------


@page("/keys", ("GET", "POST"))
def keys(ctx: Ctx) -> Response:
    created: str | None = None
    errors = forms.FormErrors()
    if ctx.request.method == "POST":
        body: dict[str, Any] = {"name": ctx.form.get("name", "").strip() or None}
        days = ctx.form.get("expires_in_days", "").strip()
        if days:
            body["expiresInDays"] = int(days) if days.isdigit() else days
        try:
            _, created = accounts.create_key(ctx.deps, ctx.tenant, parse(ApiKeyCreate, body))
        except DomainError as exc:
            errors = forms.errors_of(exc)
            errors.fields = {
                k.replace("expiresInDays", "expires_in_days"): v for k, v in errors.fields.items()
            }
    data = views.keys_page(ctx.deps, ctx.tenant)
    status = 400 if errors.fields else (201 if created else 200)
    return ctx.render("keys.html", status, created=created, errors=errors, signing_raw=None, **data)


@page("/keys/{key_id}/revoke", ("POST",))
def key_revoke(ctx: Ctx, key_id: str) -> Response:
    accounts.revoke_key(ctx.deps, ctx.tenant, key_id)
    return redirect(f"{ROOT}/keys?done=revoked")


@page("/signing-key", ("POST",))
def signing_key_create(ctx: Ctx) -> Response:
    key = signing_keys.create_key(ctx.deps, ctx.tenant)
    return _signing_shown(ctx, SigningKeyCreated.of(key, ctx.deps.clock.now()))


@page("/signing-key/rotate", ("POST",))
def signing_key_rotate(ctx: Ctx) -> Response:
    key = signing_keys.rotate_key(ctx.deps, ctx.tenant)
    return _signing_shown(ctx, SigningKeyCreated.of(key, ctx.deps.clock.now()))


def _signing_shown(ctx: Ctx, created: SigningKeyCreated) -> Response:
    data = views.keys_page(ctx.deps, ctx.tenant)
    return ctx.render(
        "keys.html",
        201,
        created=None,
        errors=forms.FormErrors(),
        signing_raw=created.raw_key,
        **data,
    )
