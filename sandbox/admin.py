"""The /admin JSON API: apps, companies, consent automation, acts, limits, faults, tokens, logs."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, date
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox import oauth, ops, services
from sandbox.clock import parse_instant
from sandbox.faults import QboError
from sandbox.limits import FaultSettings, LimitSettings
from sandbox.runtime import Runtime, dumps, json_response, raw_json
from sandbox.seed import HOME_CURRENCY, seed_company
from sandbox.state import App, Company, TokenSettings, new_token
from sandbox.webhooks import WebhookSettings

COUNTRIES = frozenset(HOME_CURRENCY)
EDITIONS = frozenset({"simple_start", "essentials", "plus", "advanced"})
CLASS_TRACKING = frozenset({"off", "per_transaction", "per_line"})
WEBHOOK_FORMATS = frozenset({"legacy", "cloudevents"})


class BadRequest(Exception):
    pass


def rt_of(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


async def body_of(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        parsed = json.loads(raw or b"{}")
    except ValueError as exc:
        raise BadRequest(f"invalid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise BadRequest("body must be a JSON object")
    return parsed


def bad(message: str, status: int = 400) -> Response:
    return json_response({"error": message}, status)


async def create_app(request: Request) -> Response:
    """POST /admin/apps → a registered app with credentials."""
    body = await body_of(request)
    uris = body.get("redirect_uris") or []
    fmt = body.get("webhook_format", "legacy")
    if not isinstance(uris, list) or fmt not in WEBHOOK_FORMATS:
        raise BadRequest("redirect_uris must be a list; webhook_format legacy|cloudevents")
    app = App(
        client_id=body.get("client_id") or new_token("AB", 24),
        client_secret=body.get("client_secret") or new_token("", 30),
        redirect_uris=[str(u) for u in uris],
        webhook_url=body.get("webhook_url"),
        webhook_verifier_token=body.get("webhook_verifier_token") or new_token("", 24),
        webhook_format=fmt,
        name=body.get("name") or "Sandbox App",
    )
    rt_of(request).state.apps[app.client_id] = app
    return json_response(app.public(), 201)


async def update_app(request: Request) -> Response:
    """PATCH /admin/apps/{client_id} → change redirect URIs or webhook settings."""
    app = rt_of(request).state.apps.get(request.path_params["client_id"])
    if app is None:
        return bad("unknown app", 404)
    body = await body_of(request)
    for name in ("redirect_uris", "webhook_url", "webhook_verifier_token", "webhook_format", "name"):
        if name in body:
            setattr(app, name, body[name])
    return json_response(app.public())


async def list_apps(request: Request) -> Response:
    return json_response([a.public() for a in rt_of(request).state.apps.values()])


def _company_from(rt: Runtime, body: dict[str, Any]) -> Company:
    country = body.get("country", "US")
    edition = body.get("edition", "plus")
    tracking = body.get("class_tracking", "off")
    if country not in COUNTRIES or edition not in EDITIONS or tracking not in CLASS_TRACKING:
        raise BadRequest(
            "country US|GB|CA|AU, edition simple_start|essentials|plus|advanced, "
            "class_tracking off|per_transaction|per_line"
        )
    if edition not in ("plus", "advanced") and (tracking != "off" or body.get("track_departments")):
        raise BadRequest("class and location tracking need the plus or advanced edition")
    close = body.get("book_close_date")
    return Company(
        realm_id=str(body.get("realm_id") or rt.state.new_realm_id()),
        name=body.get("company_name") or f"Sandbox Company_{country}_{len(rt.state.companies) + 1}",
        country=country,
        home_currency=body.get("home_currency") or HOME_CURRENCY[country],
        edition=edition,
        multicurrency=bool(body.get("multicurrency", False)),
        class_tracking=tracking,
        track_departments=bool(body.get("track_departments", False)),
        custom_txn_numbers=bool(body.get("custom_txn_numbers", False)),
        book_close_date=date.fromisoformat(close) if close else None,
    )


async def create_company(request: Request) -> Response:
    """POST /admin/companies → a seeded company {realm_id}."""
    rt = rt_of(request)
    body = await body_of(request)
    company = _company_from(rt, body)
    if company.realm_id in rt.state.companies:
        raise BadRequest("realm_id already exists")
    seed = body.get("seed", "sample")
    if seed not in ("sample", "minimal"):
        raise BadRequest("seed must be sample|minimal")
    seed_company(company, sample=seed == "sample")
    rt.state.companies[company.realm_id] = company
    return json_response({"realm_id": company.realm_id, "company_name": company.name}, 201)


async def list_companies(request: Request) -> Response:
    return json_response(
        [
            {"realm_id": c.realm_id, "company_name": c.name, "country": c.country, "edition": c.edition}
            for c in rt_of(request).state.companies.values()
        ]
    )


async def authorize(request: Request) -> Response:
    """POST /admin/oauth/authorize → the redirect the consent page would send (Connect pressed)."""
    rt = rt_of(request)
    body = await body_of(request)
    params = {k: str(body.get(k, "")) for k in ("client_id", "redirect_uri", "scope", "state")}
    params["scope"] = params["scope"] or "com.intuit.quickbooks.accounting"
    problem = oauth.check_authorize(rt.state, params)
    if problem or body.get("realm_id") not in rt.state.companies:
        raise BadRequest(problem or "unknown realm_id")
    url = oauth.issue_code(
        rt.state,
        client_id=params["client_id"],
        realm_id=str(body["realm_id"]),
        redirect_uri=params["redirect_uri"],
        scope=params["scope"],
        request_state=params["state"],
    )
    return json_response({"redirect_url": url})


def _company(rt: Runtime, request: Request) -> Company:
    company = rt.state.companies.get(request.path_params["realm_id"])
    if company is None:
        raise BadRequest("unknown realm_id")
    return company


async def act(request: Request) -> Response:
    """POST /admin/companies/{realm_id}/act/{Entity} → a change made in the QBO screens (fires webhooks)."""
    rt = rt_of(request)
    company = _company(rt, request)
    body = await body_of(request)
    entity = services.entity_name(request.path_params["entity"])
    operation = body.get("operation", "create")
    payload = body.get("body") or {}
    changes: list[ops.Change] = []
    try:
        if operation == "void":
            style = ops.spec_for(entity).void or "operation"
            result = ops.void(company, entity, payload, style=style, changes=changes)
        elif operation in ("create", "update", "delete"):
            result = services.write(
                company,
                entity,
                payload,
                operation=None if operation == "create" else operation,
                include=None,
                changes=changes,
            )[0][entity]
        else:
            raise BadRequest("operation create|update|delete|void")
    except QboError as error:
        return json_response({"Fault": error.fault()}, error.status)
    rt.emit(company, changes)
    return raw_json(dumps({entity: result}))


async def entities(request: Request) -> Response:
    """GET /admin/companies/{realm_id}/entities/{Entity} → every stored object of that type."""
    company = _company(rt_of(request), request)
    entity = services.entity_name(request.path_params["entity"])
    return raw_json(dumps(list(company.table(entity).values())))


def _update_settings(target: Any, body: dict[str, Any]) -> None:
    names = {f.name for f in fields(target)}
    for key, value in body.items():
        if key not in names:
            raise BadRequest(f"unknown setting {key}")
        setattr(target, key, value)


async def put_limits(request: Request) -> Response:
    """PUT /admin/limits → new throttle values (and time_scale)."""
    rt = rt_of(request)
    body = await body_of(request)
    settings = LimitSettings(**{**rt.limits.settings.public(), **body}) if body else LimitSettings()
    if settings.time_scale <= 0:
        raise BadRequest("time_scale must be > 0")
    rt.limits.settings = settings
    rt.limits.reset()
    return json_response(settings.public())


async def get_limits(request: Request) -> Response:
    return json_response(rt_of(request).limits.settings.public())


async def put_faults(request: Request) -> Response:
    """PUT /admin/faults → injected latency/errors/timeouts/throttling, per realm or everywhere."""
    rt = rt_of(request)
    body = await body_of(request)
    realm_id = body.pop("realm_id", None)
    settings = FaultSettings()
    _update_settings(settings, body)
    if realm_id:
        rt.faults.by_realm[str(realm_id)] = settings
    else:
        rt.faults.everywhere = settings
    return json_response({"realm_id": realm_id, **settings.public()})


async def delete_faults(request: Request) -> Response:
    rt = rt_of(request)
    realm_id = request.query_params.get("realm_id")
    if realm_id:
        rt.faults.by_realm.pop(realm_id, None)
    else:
        rt.faults.by_realm.clear()
        rt.faults.everywhere = None
    return json_response({"cleared": True})


async def expire_tokens(request: Request) -> Response:
    """POST /admin/tokens/expire {realm_id?, kind} → those tokens stop working now."""
    state = rt_of(request).state
    body = await body_of(request)
    kind, realm_id = body.get("kind", "access"), body.get("realm_id")
    grants = {g.grant_id for g in state.grants.values() if realm_id in (None, g.realm_id)}
    count = 0
    if kind == "access":
        for value, (grant_id, _) in list(state.access_tokens.items()):
            if grant_id in grants:
                state.access_tokens[value] = (grant_id, 0.0)
                count += 1
    elif kind == "refresh":
        for token in state.refresh_tokens.values():
            if token.grant_id in grants:
                token.expires_at = 0.0
                count += 1
    else:
        raise BadRequest("kind access|refresh")
    return json_response({"expired": count})


async def token_settings(request: Request) -> Response:
    """PUT /admin/tokens/settings → lifetimes, rotation period, grace period (seconds)."""
    state = rt_of(request).state
    if request.method == "PUT":
        _update_settings(state.token_settings, await body_of(request))
    return json_response({f.name: getattr(state.token_settings, f.name) for f in fields(TokenSettings)})


async def requests_log(request: Request) -> Response:
    """GET /admin/requests?realm_id=&since= → logged API calls, oldest first."""
    state = rt_of(request).state
    realm_id = request.query_params.get("realm_id")
    since_text = request.query_params.get("since")
    since = parse_instant(since_text, UTC) if since_text else None
    if since_text and since is None:
        raise BadRequest("since must be an ISO date or datetime")
    out = [
        e.public()
        for e in state.log
        if (realm_id is None or e.realm_id == realm_id) and (since is None or e.at >= since)
    ]
    return raw_json(dumps(out))


async def deliveries(request: Request) -> Response:
    return raw_json(dumps(rt_of(request).dispatcher.attempts))


async def webhook_settings(request: Request) -> Response:
    """PUT /admin/webhooks/settings {delay_seconds, reply_timeout_seconds}."""
    rt = rt_of(request)
    if request.method == "PUT":
        _update_settings(rt.dispatcher.settings, await body_of(request))
    return json_response({f.name: getattr(rt.dispatcher.settings, f.name) for f in fields(WebhookSettings)})


async def reset(request: Request) -> Response:
    """POST /admin/reset → empty state, default limits, no faults."""
    rt = rt_of(request)
    rt.reset()
    rt.limits.settings = LimitSettings()
    return json_response({"reset": True})


def guarded(handler: Any) -> Any:
    async def wrapper(request: Request) -> Response:
        try:
            response: Response = await handler(request)
        except BadRequest as exc:
            return bad(str(exc))
        except (TypeError, ValueError) as exc:
            return bad(f"invalid value: {exc}")
        except QboError as error:
            return bad(error.detail, error.status)
        return response

    return wrapper


ROUTES = [
    Route("/admin/apps", guarded(create_app), methods=["POST"]),
    Route("/admin/apps", guarded(list_apps), methods=["GET"]),
    Route("/admin/apps/{client_id}", guarded(update_app), methods=["PATCH", "PUT"]),
    Route("/admin/companies", guarded(create_company), methods=["POST"]),
    Route("/admin/companies", guarded(list_companies), methods=["GET"]),
    Route("/admin/oauth/authorize", guarded(authorize), methods=["POST"]),
    Route("/admin/companies/{realm_id}/act/{entity}", guarded(act), methods=["POST"]),
    Route("/admin/companies/{realm_id}/entities/{entity}", guarded(entities), methods=["GET"]),
    Route("/admin/limits", guarded(put_limits), methods=["PUT"]),
    Route("/admin/limits", guarded(get_limits), methods=["GET"]),
    Route("/admin/faults", guarded(put_faults), methods=["PUT"]),
    Route("/admin/faults", guarded(delete_faults), methods=["DELETE"]),
    Route("/admin/tokens/expire", guarded(expire_tokens), methods=["POST"]),
    Route("/admin/tokens/settings", guarded(token_settings), methods=["GET", "PUT"]),
    Route("/admin/requests", guarded(requests_log), methods=["GET"]),
    Route("/admin/webhooks/deliveries", guarded(deliveries), methods=["GET"]),
    Route("/admin/webhooks/settings", guarded(webhook_settings), methods=["GET", "PUT"]),
    Route("/admin/reset", guarded(reset), methods=["POST"]),
]
