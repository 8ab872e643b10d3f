"""Intuit OAuth 2.0 / OpenID Connect: discovery, consent page, token, revoke, userinfo."""

from __future__ import annotations

import base64
import binascii
import html
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from sandbox import idtoken
from sandbox.runtime import Runtime, json_response, new_tid
from sandbox.state import App, AuthCode, Grant, RefreshToken, State, new_token

HARD_EXPIRY_HEADER = "x-include-refresh-token-hard-expires-in"
ACCESS_TOKEN_PREFIX = "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0.."


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def origin(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def discovery(request: Request) -> Response:
    """GET /.well-known/openid_(sandbox_)configuration → endpoints on this origin."""
    base = origin(request)
    return json_response(
        {
            "issuer": f"{base}/op/v1",
            "authorization_endpoint": f"{base}/connect/oauth2",
            "token_endpoint": f"{base}/oauth2/v1/tokens/bearer",
            "userinfo_endpoint": f"{base}/v1/openid_connect/userinfo",
            "revocation_endpoint": f"{base}/v2/oauth2/tokens/revoke",
            "jwks_uri": f"{base}/op/v1/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile", "address", "phone"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "claims_supported": ["aud", "exp", "iat", "iss", "realmid", "sub"],
        }
    )


async def jwks(request: Request) -> Response:
    return json_response(idtoken.jwks())


def issue_code(
    state: State, *, client_id: str, realm_id: str, redirect_uri: str, scope: str, request_state: str
) -> str:
    """The redirect URL carrying a fresh single-use code (what pressing Connect does)."""
    code = new_token("AB11", 24)
    state.codes[code] = AuthCode(
        client_id=client_id,
        realm_id=realm_id,
        redirect_uri=redirect_uri,
        scope=scope,
        expires_at=time.time() + state.token_settings.code_ttl,
    )
    query = urlencode({"code": code, "state": request_state, "realmId": realm_id})
    return f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{query}"


def check_authorize(state: State, params: dict[str, str]) -> str | None:
    """What is wrong with an authorization request, or None."""
    app = state.apps.get(params.get("client_id", ""))
    if app is None:
        return "Unknown client_id"
    if params.get("response_type", "code") != "code":
        return "response_type must be code"
    if params.get("redirect_uri") not in app.redirect_uris:
        return "redirect_uri is not registered for this app"
    if not params.get("scope"):
        return "scope is required"
    return None


async def consent_page(request: Request) -> Response:
    """GET /connect/oauth2 → a page to pick a company and Connect or Cancel."""
    params = dict(request.query_params)
    state = runtime(request).state
    problem = check_authorize(state, params)
    if problem:
        return HTMLResponse(f"<h1>Authorization error</h1><p>{html.escape(problem)}</p>", status_code=400)
    options = "".join(
        f'<option value="{html.escape(c.realm_id)}">{html.escape(c.name)} ({c.realm_id})</option>'
        for c in state.companies.values()
    )
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items()
        if k in ("client_id", "redirect_uri", "scope", "state")
    )
    app = state.apps[params["client_id"]]
    return HTMLResponse(
        "<!doctype html><html><head><title>Connect to QuickBooks</title></head><body>"
        f"<h1>{html.escape(app.name)} wants to connect to your QuickBooks company</h1>"
        f'<form method="post" action="/connect/oauth2">{hidden}'
        f'<label>Company <select name="realm_id">{options}</select></label>'
        '<button type="submit" name="action" value="connect">Connect</button>'
        '<button type="submit" name="action" value="cancel">Cancel</button></form></body></html>'
    )


async def consent_submit(request: Request) -> Response:
    """POST /connect/oauth2 → redirect to the app with code/state/realmId or error=access_denied."""
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
    state = runtime(request).state
    problem = check_authorize(state, form)
    if problem:
        return HTMLResponse(f"<h1>Authorization error</h1><p>{html.escape(problem)}</p>", status_code=400)
    redirect_uri = form["redirect_uri"]
    if form.get("action") != "connect" or form.get("realm_id") not in state.companies:
        query = urlencode({"error": "access_denied", "state": form.get("state", "")})
        return RedirectResponse(
            f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{query}", status_code=302
        )
    url = issue_code(
        state,
        client_id=form["client_id"],
        realm_id=form["realm_id"],
        redirect_uri=redirect_uri,
        scope=form["scope"],
        request_state=form.get("state", ""),
    )
    return RedirectResponse(url, status_code=302)


def _client(state: State, request: Request, form: dict[str, str]) -> App | None:
    header = request.headers.get("authorization", "")
    client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
    if header.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
    app = state.apps.get(client_id)
    return app if app is not None and app.client_secret == secret else None


def _oauth_error(error: str, status: int = 400, description: str | None = None) -> Response:
    body: dict[str, str] = {"error": error}
    if description:
        body["error_description"] = description
    return json_response(body, status, {"intuit_tid": new_tid()})


def _tokens(request: Request, state: State, grant: Grant, refresh: RefreshToken) -> dict[str, Any]:
    now = time.time()
    access = ACCESS_TOKEN_PREFIX + new_token("", 48)
    state.access_tokens[access] = (grant.grant_id, now + state.token_settings.access_ttl)
    body: dict[str, Any] = {
        "token_type": "bearer",
        "access_token": access,
        "refresh_token": refresh.value,
        "expires_in": int(state.token_settings.access_ttl),
        "x_refresh_token_expires_in": max(0, int(refresh.expires_at - now)),
    }
    if "openid" in grant.scope.split():
        body["id_token"] = idtoken.id_token(
            issuer=f"{origin(request)}/op/v1",
            client_id=grant.client_id,
            realm_id=grant.realm_id,
            subject=f"user-{grant.realm_id}",
        )
    if request.headers.get(HARD_EXPIRY_HEADER, "").lower() == "true":
        body["x_refresh_token_hard_expires_in"] = max(0, int(refresh.hard_expires_at - now))
    return body


def _new_refresh(state: State, grant: Grant, *, hard_expires_at: float | None = None) -> RefreshToken:
    now = time.time()
    settings = state.token_settings
    token = RefreshToken(
        value=new_token("RT1-", 30),
        grant_id=grant.grant_id,
        issued_at=now,
        expires_at=now + settings.refresh_ttl,
        hard_expires_at=hard_expires_at or now + settings.refresh_hard_ttl,
    )
    state.refresh_tokens[token.value] = token
    return token


async def token(request: Request) -> Response:
    """POST /oauth2/v1/tokens/bearer → tokens for a code or a refresh token."""
    rt = runtime(request)
    state = rt.state
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
    app = _client(state, request, form)
    realm_id: str | None = None
    if app is None:
        response = _oauth_error("invalid_client", 401)
    elif form.get("grant_type") == "authorization_code":
        response, realm_id = _exchange_code(request, state, app, form)
    elif form.get("grant_type") == "refresh_token":
        response, realm_id = _refresh(request, state, app, form)
    elif not form.get("grant_type"):
        response = _oauth_error("invalid_request", description="grant_type is required")
    else:
        response = _oauth_error("unsupported_grant_type")
    _log(state, request, response, realm_id=realm_id, client_id=app.client_id if app else None)
    return response


def _exchange_code(
    request: Request, state: State, app: App, form: dict[str, str]
) -> tuple[Response, str | None]:
    code = state.codes.get(form.get("code", ""))
    if code is None or code.used or code.expires_at < time.time() or code.client_id != app.client_id:
        return _oauth_error("invalid_grant"), code.realm_id if code else None
    if form.get("redirect_uri") != code.redirect_uri:
        return _oauth_error("invalid_grant", description="Redirect URI mismatch"), code.realm_id
    code.used = True
    grant = Grant(
        grant_id=new_token("g-", 12),
        client_id=app.client_id,
        realm_id=code.realm_id,
        scope=code.scope,
        created_at=time.time(),
    )
    state.grants[grant.grant_id] = grant
    refresh = _new_refresh(state, grant)
    return json_response(
        _tokens(request, state, grant, refresh), 200, {"intuit_tid": new_tid()}
    ), grant.realm_id


def _refresh(request: Request, state: State, app: App, form: dict[str, str]) -> tuple[Response, str | None]:
    now = time.time()
    presented = state.refresh_tokens.get(form.get("refresh_token", ""))
    grant = state.grants.get(presented.grant_id) if presented else None
    if presented is None or grant is None or grant.client_id != app.client_id:
        return _oauth_error("invalid_grant", description="Token invalid"), None
    settings = state.token_settings
    dead = (
        grant.revoked
        or presented.expires_at <= now
        or presented.hard_expires_at <= now
        or (presented.superseded_at is not None and presented.superseded_at + settings.grace_seconds <= now)
    )
    if dead:
        return _oauth_error("invalid_grant", description="Token invalid"), grant.realm_id
    latest = _latest(state, grant) or presented
    if now - latest.issued_at >= settings.rotation_seconds:
        latest.superseded_at = now
        latest = _new_refresh(state, grant, hard_expires_at=latest.hard_expires_at)
    else:
        latest.expires_at = min(now + settings.refresh_ttl, latest.hard_expires_at)
    return json_response(
        _tokens(request, state, grant, latest), 200, {"intuit_tid": new_tid()}
    ), grant.realm_id


def _latest(state: State, grant: Grant) -> RefreshToken | None:
    current = [
        t for t in state.refresh_tokens.values() if t.grant_id == grant.grant_id and t.superseded_at is None
    ]
    return max(current, key=lambda t: t.issued_at) if current else None


async def revoke(request: Request) -> Response:
    """POST /v2/oauth2/tokens/revoke {"token"} → the grant behind the token is gone."""
    state = runtime(request).state
    app = _client(state, request, {})
    realm_id = None
    if app is None:
        response = _oauth_error("invalid_client", 401)
    else:
        try:
            value = str(json.loads(await request.body() or b"{}").get("token", ""))
        except (ValueError, AttributeError):
            value = ""
        grant = grant_for_token(state, value)
        if not value:
            response = _oauth_error("invalid_request", description="token is required")
        else:
            if grant is not None and grant.client_id == app.client_id:
                grant.revoked = True
                realm_id = grant.realm_id
            response = Response(status_code=200, headers={"intuit_tid": new_tid()})
    _log(state, request, response, realm_id=realm_id, client_id=app.client_id if app else None)
    return response


def grant_for_token(state: State, value: str) -> Grant | None:
    refresh = state.refresh_tokens.get(value)
    if refresh is not None:
        return state.grants.get(refresh.grant_id)
    access = state.access_tokens.get(value)
    return state.grants.get(access[0]) if access else None


async def userinfo(request: Request) -> Response:
    """GET userinfo with a bearer token → the connecting user's profile."""
    state = runtime(request).state
    header = request.headers.get("authorization", "")
    access = state.access_tokens.get(header[7:]) if header.lower().startswith("bearer ") else None
    grant = state.grants.get(access[0]) if access else None
    if access is None or grant is None or grant.revoked or access[1] <= time.time():
        response = _oauth_error("invalid_token", 401)
    else:
        response = json_response(
            {
                "sub": f"user-{grant.realm_id}",
                "email": "sandbox.user@example.com",
                "emailVerified": True,
                "givenName": "Sandbox",
                "familyName": "User",
                "phoneNumber": "+1 5555550100",
                "phoneNumberVerified": False,
                "address": {
                    "streetAddress": "123 Sierra Way",
                    "locality": "San Pablo",
                    "region": "CA",
                    "postalCode": "87999",
                    "country": "US",
                },
            }
        )
    _log(
        state,
        request,
        response,
        realm_id=grant.realm_id if grant else None,
        client_id=grant.client_id if grant else None,
    )
    return response


def _log(
    state: State, request: Request, response: Response, *, realm_id: str | None, client_id: str | None
) -> None:
    fault = None
    if response.status_code >= 400 and response.body:
        try:
            fault = json.loads(bytes(response.body)).get("error")
        except ValueError:
            fault = None
    state.record(
        realm_id=realm_id,
        client_id=client_id,
        method=request.method,
        path=request.url.path,
        query=request.url.query,
        status=response.status_code,
        requestid=None,
        fault_code=fault,
        entity=None,
        operation=None,
        intuit_tid=response.headers.get("intuit_tid", ""),
    )
