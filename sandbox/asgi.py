"""A lean ASGI path for /v3 (the hot path): no router, no Request/Response objects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
V3_PREFIX = "/v3/company/"
JSON = b"application/json;charset=UTF-8"


@dataclass
class ApiRequest:
    method: str
    path: str
    query: str
    realm_id: str
    rest: str
    authorization: str
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    content_type: str = ""


@dataclass
class ApiResponse:
    status: int
    body: bytes
    tid: str
    content_type: bytes = JSON


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _request(scope: Scope, body: bytes) -> ApiRequest | None:
    path: str = scope["path"]
    realm_id, _, rest = path[len(V3_PREFIX) :].partition("/")
    if not realm_id:
        return None
    authorization = content_type = ""
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value.decode("latin-1")
        elif name == b"content-type":
            content_type = value.decode("latin-1")
    query = scope.get("query_string", b"").decode("latin-1")
    return ApiRequest(
        method=scope["method"],
        path=path,
        query=query,
        realm_id=realm_id,
        rest=rest,
        authorization=authorization,
        body=body,
        params=dict(parse_qsl(query, keep_blank_values=True)),
        content_type=content_type,
    )


def with_fast_v3(app: ASGIApp, handler: Callable[[ApiRequest], Awaitable[ApiResponse]]) -> ASGIApp:
    """Serve /v3/company/... with `handler`; everything else goes to `app`."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not scope["path"].startswith(V3_PREFIX)
            or scope["method"] not in ("GET", "POST")
        ):
            await app(scope, receive, send)
            return
        request = _request(scope, await _read_body(receive))
        if request is None:
            await app(scope, receive, send)
            return
        response = await handler(request)
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [
                    (b"content-type", response.content_type),
                    (b"content-length", str(len(response.body)).encode()),
                    (b"intuit_tid", response.tid.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": response.body})

    return asgi
