"""The registry's HTTP side (FastAPI): the API under ``/api/v1`` (documented by the
framework's OpenAPI page at ``/docs``) and the web pages (server-rendered with jinja2).

Every request that reads needs a token with the ``read`` scope, unless the service runs
with ``public_read`` (a team network); writes need ``submit``, ``publish`` or ``admin``.
A token comes as ``Authorization: Bearer <token>``, or, for a browser, as the cookie the
``/login`` form sets. Answers never hold a token, except the one ``POST /api/v1/tokens``
creates.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from html import escape
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from openaiperf import __version__
from openaiperf.history.store import Filters, HistoryError
from openaiperf.history.trends import format_value
from openaiperf.registry_service.service import Refused, RegistryService
from openaiperf.registry_service.tokens import SCOPES, TokenInfo, parse_scopes

TEMPLATES = Path(__file__).resolve().parent / "templates"
COOKIE = "ob_token"
#: the metrics a run's page shows per case (the catalogue's headline ones that most cases have)
CASE_COLUMNS = ("ttft_p50", "tpot_p50", "e2e_p90", "output_tokens_per_s", "requests_per_s")
DEFAULT_BOARD_METRIC = "output_tokens_per_s"
_bearer = HTTPBearer(auto_error=False, description="a registry token: `ob registry token create`")


class SubmissionAnswer(BaseModel):
    id: int = Field(description="the submission")
    run_id: int | None = Field(description="the run in the results history")
    run_url: str | None = None
    duplicate: bool = False
    detail: str = ""


class TokenRequest(BaseModel):
    name: str = Field(max_length=200)
    scopes: list[str] = Field(description=f"from {', '.join(SCOPES)}")


class TokenAnswer(BaseModel):
    id: int
    name: str
    scopes: list[str]
    token: str | None = Field(default=None, description="shown once, when created")
    revoked: bool = False


def _number(value: float | None, unit: str | None = None) -> str:
    if value is None or not math.isfinite(value):
        return "-"

    return format_value(value, unit)


def trend_svg(points: list[Any], width: int = 900, height: int = 260) -> str:
    """A case's metric over runs as an inline SVG: one dot per run, coloured by its
    baseline verdict (red regression, amber inconclusive, green no regression, grey none);
    an invalid or failed run is a hollow dot."""
    values = [p.value for p in points if p.value is not None]
    if not values:
        return '<p class="muted">no value of this metric in the matching runs</p>'
    low, high = min(values), max(values)
    span = (high - low) or abs(high) or 1.0
    low, high = low - 0.1 * span, high + 0.1 * span
    left, right, top, bottom = 70, 20, 20, 40
    step = (width - left - right) / max(1, len(points) - 1)

    def y(value: float) -> float:
        return float(top + (high - value) / (high - low) * (height - top - bottom))

    colours = {"regression": "#c62828", "inconclusive": "#ef8f00", "no regression": "#2e7d32"}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" class="trend" role="img">',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#999"/>',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="#999"/>']
    for value in (low + 0.1 * span, high - 0.1 * span):
        parts.append(f'<text x="{left - 6}" y="{y(value) + 4:.1f}" text-anchor="end" font-size="11">'
                     f'{_number(value)}</text>')
    line = [(left + i * step, y(p.value)) for i, p in enumerate(points) if p.value is not None]
    parts.append('<polyline fill="none" stroke="#1565c0" stroke-width="1.5" points="'
                 + " ".join(f"{a:.1f},{b:.1f}" for a, b in line) + '"/>')
    for i, point in enumerate(points):
        if point.value is None:
            continue
        colour = colours.get(point.verdict or "", "#757575")
        fill = colour if point.usable else "white"
        verdict = escape(point.verdict or "not compared")
        parts.append(f'<circle cx="{left + i * step:.1f}" cy="{y(point.value):.1f}" r="5" fill="{fill}" '
                     f'stroke="{colour}" stroke-width="2" data-verdict="{verdict}"><title>run {point.run_id}: '
                     f'{escape(_number(point.value, point.unit))} ({verdict}{"" if point.usable else ", not valid"})'
                     '</title></circle>')
        parts.append(f'<text x="{left + i * step:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                     f'font-size="11">{point.run_id}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _token_of(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str | None:
    if credentials is not None:
        return credentials.credentials
    return request.cookies.get(COOKIE)


def requires(scope: str) -> Callable[..., Awaitable[TokenInfo | None]]:
    """A dependency that admits a token with ``scope`` (``read`` admits no token at all
    when the service runs with ``public_read``) and answers 401/403 otherwise."""
    async def check(request: Request,
                    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None
                    ) -> TokenInfo | None:
        service: RegistryService = request.app.state.service
        token = _token_of(request, credentials)
        if credentials is None and token is not None and scope != "read":
            # the browser's cookie reads only: a page (or a submitted report) cannot write with it
            raise Refused(403, f"the sign-in cookie only reads; {scope!r} needs 'Authorization: Bearer <token>'")
        if token is None:
            if scope == "read" and request.app.state.public_read:
                return None
            raise Refused(401, f"a token with the {scope!r} scope is needed: send it as "
                               "'Authorization: Bearer <token>' (ob submit/ob fetch read $OPENAIPERF_TOKEN)")
        info = await run_in_threadpool(service.authenticate, token)
        if info is None:
            raise Refused(401, "unknown token")
        if info.revoked:
            raise Refused(401, f"token {info.id} ({info.name}) is revoked")
        if not info.allows(scope):
            raise Refused(403, f"token {info.id} ({info.name}) has scope(s) {', '.join(info.scopes)}; "
                               f"this needs {scope!r}")
        return info
    return check


# module level: FastAPI resolves the (string) annotations of the routes in this module's namespace
Reader = Annotated[TokenInfo | None, Depends(requires("read"))]
Submitter = Annotated[TokenInfo, Depends(requires("submit"))]
Publisher = Annotated[TokenInfo, Depends(requires("publish"))]
Admin = Annotated[TokenInfo, Depends(requires("admin"))]


def create_app(service: RegistryService, *, public_read: bool = False) -> FastAPI:
    swagger_assets = _swagger_assets()
    app = FastAPI(title="OpenAIPerf registry", version=__version__, docs_url=None if swagger_assets else "/docs",
                  description="Submitted benchmark runs, published tasks, and the pages over them. "
                              "Authenticate with `Authorization: Bearer <token>`.")
    app.state.service = service
    app.state.public_read = public_read
    if swagger_assets is not None:
        _local_docs(app, swagger_assets)
    templates = Jinja2Templates(directory=str(TEMPLATES))
    # the templates are *.html.j2, which select_autoescape's default would leave unescaped: every
    # value shown (tags, descriptions, names, units) comes from a submission
    templates.env.autoescape = True
    templates.env.globals.update(number=_number, urlencode=urlencode, version=__version__)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(exc), **exc.extra}, status_code=exc.status, headers=headers)
        return templates.TemplateResponse(request, "error.html.j2", {"status": exc.status, "message": str(exc)},
                                          status_code=exc.status, headers=headers)

    @app.exception_handler(HistoryError)
    async def store_unavailable(request: Request, exc: HistoryError) -> Response:
        # the message names the store with its password hidden; the client retries a 503
        return await refused(request, Refused(503, f"the results history is not available: {exc}"))

    # -- API ------------------------------------------------------------------------------
    @app.get("/api/v1/health", tags=["service"])
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.post("/api/v1/submissions", tags=["submissions"], status_code=201, response_model=SubmissionAnswer,
              responses={409: {"model": SubmissionAnswer, "description": "submitted already (same archive or run)"},
                         413: {"description": "the archive is over the size limit"},
                         422: {"description": "the archive was refused; `detail` says why"}},
              openapi_extra={"requestBody": {"required": True, "description": "an `ob pack` archive",
                                             "content": {"application/gzip": {"schema": {"type": "string",
                                                                                         "format": "binary"}}}}})
    async def submit_archive(request: Request, token: Submitter,
                     tags: Annotated[str, Query(description="comma-separated, e.g. llama3,vllm,server")] = "",
                     description: Annotated[str, Query(max_length=2000)] = "") -> Response:
        """Submit an `ob pack` archive (the request body): checked, stored, and its run
        loaded into the results history."""
        limit = service.max_archive_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise Refused(413, f"the archive has {declared} bytes; this registry accepts at most {limit}")
        upload = service.incoming_path().with_suffix(".upload")
        try:
            received = 0
            with upload.open("wb") as handle:
                async for chunk in request.stream():
                    received += len(chunk)
                    if received > limit:
                        raise Refused(413, f"the archive is over {limit} bytes, this registry's limit")
                    handle.write(chunk)
            outcome = await run_in_threadpool(service.submit, upload, tags.split(","), description, token)
        finally:
            upload.unlink(missing_ok=True)
        answer = SubmissionAnswer(id=outcome.id, run_id=outcome.run_id, duplicate=outcome.duplicate,
                                  run_url=str(request.url_for("run_page", run_id=outcome.run_id))
                                  if outcome.run_id is not None else None, detail=outcome.reason)
        return JSONResponse(answer.model_dump(), status_code=409 if outcome.duplicate else 201)

    @app.get("/api/v1/submissions", tags=["submissions"])
    async def list_submissions(_token: Reader,
                               limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
        rows = await run_in_threadpool(service.submissions, limit)
        return [{"id": r.id, "run_id": r.run_id, "archive_sha256": r.archive_sha256, "tags": r.tags,
                 "description": r.description, "submitted": r.submitted.isoformat(), "token_id": r.token_id}
                for r in rows]

    @app.get("/api/v1/runs", tags=["runs"])
    async def list_runs(_token: Reader, hardware: str | None = None, engine: str | None = None,
                       model: str | None = None, task: str | None = None, commit: str | None = None,
                       tags: str = "", limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
        rows = await run_in_threadpool(service.runs, Filters(hardware=hardware, engine=engine, model=model,
                                                             commit=commit), task, _tags(tags), limit)
        return [{"id": r.id, "run_name": r.run_name, "created": r.created.isoformat(),
                 "hardware_profile": r.hardware_profile, "git_commit": r.git_commit,
                 "cases_total": r.cases_total, "cases_passed": r.cases_passed,
                 "submission_id": s.id if s else None, "tags": s.tags if s else []} for r, s in rows]

    @app.post("/api/v1/tasks", tags=["tasks"], status_code=201)
    async def publish_task(token: Publisher, definition: Annotated[UploadFile, File(description="the task YAML")],
                      files: Annotated[list[UploadFile] | None, File(description="its data files")] = None
                      ) -> dict[str, Any]:
        """Publish a task definition with the data files its local dataset sources name."""
        saved: dict[str, Path] = {}
        try:
            for upload in files or []:
                path = service.incoming_path().with_suffix(".upload")
                with path.open("wb") as handle:
                    while chunk := await upload.read(1 << 20):
                        handle.write(chunk)
                saved[Path(upload.filename or "").name or "unnamed"] = path
            text = await definition.read()
            row = await run_in_threadpool(service.publish_task, text, saved, token)
        finally:
            for path in saved.values():
                path.unlink(missing_ok=True)
        return _task_json(row)

    @app.get("/api/v1/tasks", tags=["tasks"])
    async def list_tasks(_token: Reader) -> list[dict[str, Any]]:
        return [_task_json(r) for r in await run_in_threadpool(service.tasks)]

    @app.get("/api/v1/tasks/{name}", tags=["tasks"])
    async def get_task(name: str, _token: Reader, version: str | None = None) -> dict[str, Any]:
        return _task_json(await run_in_threadpool(service.task, name, version))

    @app.get("/api/v1/tasks/{name}/{version}/files/{file_name}", tags=["tasks"])
    async def get_task_file(name: str, version: str, file_name: str, _token: Reader) -> FileResponse:
        row = await run_in_threadpool(service.task, name, version)
        return FileResponse(service.task_file(row, file_name), filename=file_name)

    @app.post("/api/v1/tokens", tags=["tokens"], status_code=201, response_model=TokenAnswer)
    async def create_token(body: TokenRequest, token: Admin) -> TokenAnswer:
        try:
            scopes = parse_scopes(body.scopes, source="scopes")
        except Exception as exc:  # noqa: BLE001 - a ConfigError, answered as such
            raise Refused(422, str(exc)) from None
        info, secret = await run_in_threadpool(service.create_token, body.name, scopes, token.id)
        return TokenAnswer(id=info.id, name=info.name, scopes=list(info.scopes), token=secret)

    @app.delete("/api/v1/tokens/{token_id}", tags=["tokens"], response_model=TokenAnswer)
    async def revoke_token(token_id: int, token: Admin) -> TokenAnswer:
        info = await run_in_threadpool(service.revoke_token, token_id, token.id)
        if info is None:
            raise Refused(404, f"no token {token_id}")
        return TokenAnswer(id=info.id, name=info.name, scopes=list(info.scopes), revoked=info.revoked)

    # -- pages ----------------------------------------------------------------------------
    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    async def login_form(request: Request) -> Response:
        return templates.TemplateResponse(request, "login.html.j2", {})

    @app.post("/login", include_in_schema=False)
    async def login(request: Request, token: Annotated[str, Form()]) -> Response:
        info = await run_in_threadpool(service.authenticate, token.strip())
        if info is None or not info.allows("read"):
            return templates.TemplateResponse(request, "login.html.j2", {"error": "unknown, revoked or "
                                              "not a read token"}, status_code=401)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
        return response

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def runs_page(request: Request, _token: Reader, hardware: str = "", engine: str = "", model: str = "",
                        task: str = "", commit: str = "", tags: str = "") -> Response:
        filters = Filters(hardware=hardware or None, engine=engine or None, model=model or None,
                          commit=commit or None)
        rows = await run_in_threadpool(service.runs, filters, task or None, _tags(tags), 200)
        choices = await run_in_threadpool(service.choices)
        chosen = {"hardware": hardware, "engine": engine, "model": model, "task": task, "commit": commit,
                  "tags": tags}
        return templates.TemplateResponse(request, "runs.html.j2", {"rows": rows, "choices": choices,
                                                                    "chosen": chosen})

    @app.get("/runs/{run_id}", response_class=HTMLResponse, include_in_schema=False, name="run_page")
    async def run_page(request: Request, run_id: int, _token: Reader) -> Response:
        view = await run_in_threadpool(service.run_view, run_id)
        return templates.TemplateResponse(request, "run.html.j2", {"view": view, "columns": CASE_COLUMNS})

    @app.get("/runs/{run_id}/report", include_in_schema=False)
    async def run_report(run_id: int, _token: Reader) -> FileResponse:
        path = await run_in_threadpool(service.report_file, run_id)
        # a submitted report is the submitter's HTML: shown sandboxed (no scripts, no origin of ours)
        return FileResponse(path, media_type="text/html", headers={"Content-Security-Policy": "sandbox",
                                                                    "X-Content-Type-Options": "nosniff"})

    @app.get("/trend", response_class=HTMLResponse, include_in_schema=False)
    async def trend_page(request: Request, _token: Reader, case: str, metric: str = "ttft_p50",
                         hardware: str = "") -> Response:
        points = await run_in_threadpool(service.store.case_points, case, metric,
                                         Filters(hardware=hardware or None, case=case))
        return templates.TemplateResponse(request, "trend.html.j2", {
            "case": case, "metric": metric, "hardware": hardware, "points": points, "svg": trend_svg(points)})

    @app.get("/leaderboard", response_class=HTMLResponse, include_in_schema=False)
    async def leaderboard_page(request: Request, _token: Reader, task: str = "", scenario: str = "",
                               hardware: str = "", metric: str = DEFAULT_BOARD_METRIC) -> Response:
        boards = await run_in_threadpool(service.boards)
        ranked: list[Any] = []
        better = None
        if task and scenario and hardware:
            ranked, better = await run_in_threadpool(service.leaderboard, task, scenario, hardware, metric)
        return templates.TemplateResponse(request, "leaderboard.html.j2", {
            "boards": boards, "ranked": ranked, "better": better, "task": task, "scenario": scenario,
            "hardware": hardware, "metric": metric})

    @app.get("/tasks", response_class=HTMLResponse, include_in_schema=False)
    async def tasks_page(request: Request, _token: Reader) -> Response:
        return templates.TemplateResponse(request, "tasks.html.j2", {"tasks": await run_in_threadpool(service.tasks)})

    @app.get("/robots.txt", include_in_schema=False)
    async def robots() -> PlainTextResponse:
        return PlainTextResponse("User-agent: *\nDisallow: /\n")

    return app


def _swagger_assets() -> Path | None:
    """Swagger UI's files from the swagger-ui-bundle package, when installed: the API page
    then works on a closed network (FastAPI's own page loads them from a CDN)."""
    try:
        import swagger_ui_bundle  # type: ignore[import-untyped]
    except ImportError:
        return None
    path = Path(swagger_ui_bundle.swagger_ui_path)
    return path if (path / "swagger-ui-bundle.js").is_file() else None


def _local_docs(app: FastAPI, assets: Path) -> None:
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    # the bundled Swagger UI (4.x) reads OpenAPI 3.0 documents; the schema uses nothing of 3.1 it cannot show
    app.openapi_version = "3.0.3"
    app.mount("/static/swagger-ui", StaticFiles(directory=str(assets)), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title}: API",
                                   swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger-ui/swagger-ui.css",
                                   swagger_favicon_url="/static/swagger-ui/favicon-32x32.png")


def _tags(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _task_json(row: Any) -> dict[str, Any]:
    return {"name": row.name, "version": row.version, "kind": row.kind, "description": row.description,
            "definition_sha256": row.definition_sha256, "files": row.files, "published": row.published.isoformat(),
            "token_id": row.token_id}
