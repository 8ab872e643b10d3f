"""Read-only HTML view: the companies and what landed in each."""

from __future__ import annotations

import json
from html import escape
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from sandbox.runtime import Runtime

SHOWN = (
    "Customer",
    "Vendor",
    "Employee",
    "Item",
    "Invoice",
    "CreditMemo",
    "Estimate",
    "Payment",
    "Deposit",
    "Bill",
    "VendorCredit",
    "PurchaseOrder",
    "Purchase",
    "Transfer",
    "TimeActivity",
)
COLUMNS = {
    "Customer": ("Id", "DisplayName", "PrimaryEmailAddr.Address", "Balance", "Active"),
    "Vendor": ("Id", "DisplayName", "Balance", "Active"),
    "Item": ("Id", "Name", "Type", "UnitPrice", "Active"),
    "Invoice": ("Id", "DocNumber", "TxnDate", "CustomerRef.name", "TotalAmt", "Balance", "PrivateNote"),
    "CreditMemo": ("Id", "DocNumber", "TxnDate", "CustomerRef.name", "TotalAmt", "Balance"),
    "Payment": ("Id", "TxnDate", "CustomerRef.name", "TotalAmt", "UnappliedAmt"),
    "Bill": ("Id", "DocNumber", "TxnDate", "VendorRef.name", "TotalAmt", "Balance"),
    "PurchaseOrder": ("Id", "DocNumber", "TxnDate", "VendorRef.name", "TotalAmt", "POStatus"),
    "Employee": ("Id", "DisplayName", "Active"),
    "Estimate": ("Id", "DocNumber", "TxnDate", "CustomerRef.value", "TotalAmt"),
    "Deposit": ("Id", "TxnDate", "DepositToAccountRef.value", "TotalAmt"),
    "VendorCredit": ("Id", "TxnDate", "VendorRef.value", "TotalAmt", "Balance"),
    "Purchase": ("Id", "TxnDate", "PaymentType", "AccountRef.value", "TotalAmt"),
    "Transfer": ("Id", "TxnDate", "FromAccountRef.value", "ToAccountRef.value", "Amount"),
    "TimeActivity": ("Id", "TxnDate", "NameOf", "Hours", "Minutes"),
}
STYLE = (
    "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:2px 6px}</style>"
)


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html><head><title>{escape(title)}</title>{STYLE}</head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )


def _value(obj: dict[str, Any], path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return "" if node is None else escape(str(node))


async def index(request: Request) -> Response:
    """GET / → the list of companies."""
    rt: Runtime = request.app.state.runtime
    rows = "".join(
        f'<tr><td><a href="/companies/{escape(c.realm_id)}">{escape(c.realm_id)}</a></td>'
        f"<td>{escape(c.name)}</td><td>{escape(c.country)}</td><td>{escape(c.edition)}</td></tr>"
        for c in rt.state.companies.values()
    )
    return _page(
        "QBO sandbox: companies",
        f"<table><tr><th>Realm</th><th>Name</th><th>Country</th><th>Edition</th></tr>{rows}</table>",
    )


async def company(request: Request) -> Response:
    """GET /companies/{realm_id} → that company's customers, vendors, items and transactions."""
    rt: Runtime = request.app.state.runtime
    found = rt.state.companies.get(request.path_params["realm_id"])
    if found is None:
        return HTMLResponse("<h1>Unknown company</h1>", status_code=404)
    sections = []
    for entity in SHOWN:
        cols = COLUMNS[entity]
        head = "".join(f"<th>{escape(c)}</th>" for c in cols)
        rows = "".join(_row(found.realm_id, entity, obj, cols) for obj in found.table(entity).values())
        sections.append(f'<h2 id="{entity}">{entity}</h2><table><tr>{head}</tr>{rows}</table>')
    return _page(
        f"{found.name} ({found.realm_id})", '<p><a href="/">All companies</a></p>' + "".join(sections)
    )


def object_path(realm_id: str, entity: str, qbo_id: str) -> str:
    """Where one object's page is (``GET /companies/{realm_id}/{Entity}/{Id}``)."""
    return f"/companies/{quote(realm_id, safe='')}/{quote(entity, safe='')}/{quote(qbo_id, safe='')}"


def _row(realm_id: str, entity: str, obj: dict[str, Any], cols: tuple[str, ...]) -> str:
    """A table row whose Id links to the object's own page."""
    cells = []
    for col in cols:
        value = _value(obj, col)
        if col == "Id" and value:
            value = f'<a href="{escape(object_path(realm_id, entity, str(obj["Id"])))}">{value}</a>'
        cells.append(f"<td>{value}</td>")
    return f'<tr id="{escape(entity)}-{_value(obj, "Id")}">{"".join(cells)}</tr>'


async def company_object(request: Request) -> Response:
    """GET /companies/{realm_id}/{entity}/{qbo_id} → one object as QBO stores it (JSON, escaped)."""
    rt: Runtime = request.app.state.runtime
    realm_id, entity, qbo_id = (request.path_params[k] for k in ("realm_id", "entity", "qbo_id"))
    found = rt.state.companies.get(realm_id)
    obj = found.table(entity).get(qbo_id) if found is not None and entity in found.entities else None
    if found is None or obj is None:
        return HTMLResponse("<h1>Unknown object</h1>", status_code=404)
    company = f"/companies/{quote(realm_id, safe='')}#{entity}"
    back = f'<p><a href="{escape(company)}">{escape(found.name)}</a></p>'
    body = json.dumps(obj, indent=2, sort_keys=True, default=str)
    return _page(f"{entity} {qbo_id} of {found.name}", f"{back}<pre>{escape(body)}</pre>")
