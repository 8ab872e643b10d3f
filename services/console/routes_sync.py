"""The console's pages about what syncs: settings, history (jobs and events), imports and backfills."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from services.console import service, settings_form
from services.console.backend import Backend
from services.console.sessions import ConsoleSession
from services.console.web import ConsoleDep, SessionDep, back_to, check_csrf, detail_of, not_found, page

router = APIRouter()


async def _owned(console: Any, session: ConsoleSession, connection_id: str) -> service.ConnectionView | None:
    body = await console.backend.json("auth", f"/v1/connections/{connection_id}", key=session.key)
    return service.connection_view(body) if body else None


async def _settings(backend: Backend, key: str, connection_id: str) -> tuple[int, dict[str, Any]] | None:
    body = await backend.json("mapper", f"/v1/connections/{connection_id}/settings", key=key)
    return (int(body["version"]), dict(body["settings"])) if body else None


async def _settings_history(backend: Backend, key: str, connection_id: str) -> list[dict[str, Any]]:
    found = await backend.json("mapper", f"/v1/connections/{connection_id}/settings/history", key=key)
    return [{**v, "created": service.when(v.get("created_at"))} for v in found or []]


@router.get("/connections/{connection_id}/settings", response_class=HTMLResponse)
async def settings_page(
    request: Request, connection_id: str, console: ConsoleDep, session: SessionDep
) -> Response:
    """The sync settings as a form, and every saved version."""
    view = await _owned(console, session, connection_id)
    loaded = await _settings(console.backend, session.key, connection_id) if view else None
    if view is None or loaded is None:
        return not_found(request, console, session)
    version, settings = loaded
    return await _settings_form(
        request,
        console,
        session,
        view,
        version=version,
        values=settings_form.form_values(settings),
        errors={},
    )


async def _settings_form(
    request: Request,
    console: Any,
    session: ConsoleSession,
    view: service.ConnectionView,
    *,
    version: int,
    values: settings_form.FormValues,
    errors: dict[str, list[str]],
    status_code: int = 200,
) -> Response:
    history = await _settings_history(console.backend, session.key, view.connection_id)
    return page(
        request,
        console,
        "settings.html",
        session,
        status_code=status_code,
        c=view,
        tab="settings",
        sections=settings_form.SECTIONS,
        categories=settings_form.CATEGORIES,
        category_labels=settings_form.CATEGORY_LABELS,
        directions=settings_form.DIRECTIONS,
        version=version,
        values=values,
        errors=errors,
        history=history,
    )


@router.post("/connections/{connection_id}/settings", response_class=HTMLResponse)
async def save_settings(
    request: Request, connection_id: str, console: ConsoleDep, session: SessionDep
) -> Response:
    """The form → the mapper validates and stores the next version (If-Match); errors beside their fields."""
    form = {k: str(v) for k, v in (await request.form()).items()}
    check_csrf(session, form)
    view = await _owned(console, session, connection_id)
    loaded = await _settings(console.backend, session.key, connection_id) if view else None
    if view is None or loaded is None:
        return not_found(request, console, session)
    based_on = int(form["version"]) if form.get("version", "").isdigit() else loaded[0]
    document, errors = settings_form.parse_form(form, loaded[1])
    values = settings_form.submitted_values(form)
    if errors:
        return await _settings_form(
            request, console, session, view, version=based_on, values=values, errors=errors, status_code=422
        )
    answer = await console.backend.call(
        "mapper",
        "PUT",
        f"/v1/connections/{connection_id}/settings",
        key=session.key,
        json=document,
        headers={"If-Match": str(based_on)},
    )
    if answer.status_code == 200:
        saved = answer.json()["version"]
        return back_to(f"/connections/{connection_id}/settings", session, "ok", f"Saved as version {saved}.")
    if answer.status_code == 422:
        errors = settings_form.field_errors(answer.json())
    else:
        errors = {"": [detail_of(answer)]}
    return await _settings_form(
        request,
        console,
        session,
        view,
        version=based_on,
        values=values,
        errors=errors,
        status_code=answer.status_code if answer.status_code in (409, 422) else 502,
    )


@router.get("/connections/{connection_id}/history", response_class=HTMLResponse)
async def history(request: Request, connection_id: str, console: ConsoleDep, session: SessionDep) -> Response:
    """Every platform event and every write, filtered by status, type and date, a page at a time."""
    view = await _owned(console, session, connection_id)
    if view is None:
        return not_found(request, console, session)
    flt = service.HistoryFilter.parse(request.query_params)
    jobs: list[dict[str, Any]] = []
    if flt.wants_jobs:
        path = f"/v1/connections/{connection_id}/jobs"
        found = await console.backend.json("exporter", path, key=session.key, **flt.job_params())
        jobs = list((found or {}).get("jobs", []))
    events, events_available = await _events(console.backend, session.key, connection_id, flt)
    following = service.next_before_seq(jobs)
    return page(
        request,
        console,
        "history.html",
        session,
        c=view,
        tab="history",
        flt=flt,
        statuses=service.HISTORY_STATUSES,
        jobs=[service.job_view(j, sandbox_url=console.settings.sandbox_url) for j in jobs],
        events=events,
        events_available=events_available,
        next_query=flt.query(before_seq=following) if following else "",
        first_query=flt.query(before_seq="") if flt.before_seq else "",
    )


async def _events(
    backend: Backend, key: str, connection_id: str, flt: service.HistoryFilter
) -> tuple[list[service.EventView], bool]:
    """The mapper's record of platform events; (nothing, False) while its route is not deployed."""
    if not flt.wants_events:
        return [], True
    outcome = "rejected" if flt.status == "rejected" else None
    path = f"/v1/connections/{connection_id}/events"
    answer = await backend.call("mapper", "GET", path, key=key, params={"outcome": outcome, "limit": 200})
    if answer.status_code != 200:
        return [], False
    return service.events_shown(answer.json().get("events", []), flt), True


@router.post("/connections/{connection_id}/jobs/{job_id}/retry")
async def retry_job(
    request: Request, connection_id: str, job_id: str, console: ConsoleDep, session: SessionDep
) -> Response:
    """Retry → the exporter queues the failed job again."""
    check_csrf(session, await request.form())
    answer = await console.backend.call("exporter", "POST", f"/v1/jobs/{job_id}/retry", key=session.key)
    back = f"/connections/{connection_id}/history"
    if answer.status_code != 200:
        return back_to(back, session, "bad", f"Retry refused: {detail_of(answer)}")
    return back_to(back, session, "ok", f"Job {job_id} queued again.")


@router.post("/connections/{connection_id}/jobs/{job_id}/repush")
async def repush_job(
    request: Request, connection_id: str, job_id: str, console: ConsoleDep, session: SessionDep
) -> Response:
    """Re-push → the exporter writes the succeeded object's data to QuickBooks again (a new job)."""
    check_csrf(session, await request.form())
    answer = await console.backend.call("exporter", "POST", f"/v1/jobs/{job_id}/repush", key=session.key)
    back = f"/connections/{connection_id}/history"
    if answer.status_code != 202:
        return back_to(back, session, "bad", f"Re-push refused: {detail_of(answer)}")
    return back_to(back, session, "ok", f"Re-push queued as job {answer.json()['id']}.")


@router.post("/connections/{connection_id}/sync-now")
async def sync_now(
    request: Request, connection_id: str, console: ConsoleDep, session: SessionDep
) -> Response:
    """Sync now → the exporter re-drives the connection's failed and waiting jobs."""
    check_csrf(session, await request.form())
    path = f"/v1/connections/{connection_id}/sync-now"
    answer = await console.backend.call("exporter", "POST", path, key=session.key)
    back = f"/connections/{connection_id}/history"
    if answer.status_code != 200:
        return back_to(back, session, "bad", f"Sync now refused: {detail_of(answer)}")
    return back_to(back, session, "ok", f"{answer.json().get('requeued', 0)} job(s) queued again.")


@router.get("/connections/{connection_id}/imports", response_class=HTMLResponse)
async def imports(request: Request, connection_id: str, console: ConsoleDep, session: SessionDep) -> Response:
    """The connection's imports (from the webhooks service) and the backfills followed here, with progress."""
    view = await _owned(console, session, connection_id)
    if view is None:
        return not_found(request, console, session)
    path = f"/v1/connections/{connection_id}/imports"
    found = await console.backend.json("webhooks", path, key=session.key) or []
    batches = []
    for owner, batch_id in reversed(session.batches):
        if owner == connection_id:
            body = await console.backend.json("mapper", f"/v1/batches/{batch_id}", key=session.key)
            if body:
                batches.append(service.batch_view(body))
    return page(
        request,
        console,
        "imports.html",
        session,
        c=view,
        tab="imports",
        imports=[service.import_view(j) for j in found],
        batches=batches,
    )


@router.post("/connections/{connection_id}/batches")
async def follow_batch(
    request: Request, connection_id: str, console: ConsoleDep, session: SessionDep
) -> Response:
    """Follow a backfill → its progress on the imports page, if the mapper knows it for this key."""
    form = await request.form()
    check_csrf(session, form)
    batch_id = str(form.get("batch_id", "")).strip()
    back = f"/connections/{connection_id}/imports"
    known = service.is_batch_id(batch_id) and await console.backend.json(
        "mapper", f"/v1/batches/{batch_id}", key=session.key
    )
    if not known:
        return back_to(back, session, "bad", "No backfill with that batch id is visible to this key.")
    if (connection_id, batch_id) not in session.batches:
        session.batches.append((connection_id, batch_id))
    return back_to(back, session, "ok", f"Following backfill {batch_id}.")


@router.get("/connections/{connection_id}/batches/{batch_id}/progress")
async def batch_progress(
    connection_id: str, batch_id: str, console: ConsoleDep, session: SessionDep
) -> Response:
    """For the page's progress bar → the backfill's counts (JSON)."""
    body = await console.backend.json("mapper", f"/v1/batches/{batch_id}", key=session.key)
    if body is None:
        return JSONResponse({"detail": "not found"}, status_code=404)
    shown = service.batch_view(body)
    return JSONResponse(
        {"settled": shown.settled, "total": shown.total, "done": shown.done, "summary": shown.summary},
        headers={"Cache-Control": "no-store"},
    )


async def _import(backend: Backend, key: str, connection_id: str, job_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = await backend.json(
        "webhooks", f"/v1/connections/{connection_id}/imports/{job_id}", key=key
    )
    return found


@router.post("/connections/{connection_id}/imports")
async def start_import(
    request: Request, connection_id: str, console: ConsoleDep, session: SessionDep
) -> Response:
    """Import (every list) or Update (known objects again) → the webhooks service starts it."""
    form = await request.form()
    check_csrf(session, form)
    kind = "update" if form.get("kind") == "update" else "import"
    path = f"/v1/connections/{connection_id}/{kind}"
    answer = await console.backend.call("webhooks", "POST", path, key=session.key)
    back = f"/connections/{connection_id}/imports"
    if answer.status_code != 202:
        return back_to(back, session, "bad", f"Could not start: {detail_of(answer)}")
    return back_to(back, session, "ok", f"The {kind} has started.")


@router.get("/connections/{connection_id}/imports/{job_id}/progress")
async def import_progress(
    connection_id: str, job_id: str, console: ConsoleDep, session: SessionDep
) -> Response:
    """For the page's progress bar → the import's status and count (JSON)."""
    body = await _import(console.backend, session.key, connection_id, job_id)
    if body is None:
        return JSONResponse({"detail": "not found"}, status_code=404)
    shown = service.import_view(body)
    return JSONResponse(
        {"status": shown.status, "published": shown.published, "done": shown.done, "error": shown.error},
        headers={"Cache-Control": "no-store"},
    )
