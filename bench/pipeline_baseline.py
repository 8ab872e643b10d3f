"""The baseline: the same invoices pushed the way a typical integration script does it — the
python-quickbooks library, one ``Invoice.save()`` after another — against the same sandbox;
sequentially (one loop over every realm), and one such loop per realm, all at once.

The library is unmodified; only its base URL points at the sandbox (as in
``tests/integration/sandbox/test_real_clients.py``). A 429 is waited out (1 s, time-scaled) and the
same invoice retried, as such a script would have to.
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from quickbooks import QuickBooks
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects.base import Ref
from quickbooks.objects.customer import Customer
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.item import Item
from quickbooks.objects.tax import TxnTaxDetail
from quickbooks.objects.taxcode import TaxCode

REDIRECT_URI = "http://localhost:9999/callback"
CONNECT_PARALLEL = 8
LINES = (("Consulting", Decimal("3"), Decimal("120.00")), ("Travel", Decimal("1"), Decimal("45.50")))


@dataclass
class Realm:
    qb: QuickBooks
    item: Ref
    tax_code: Ref
    customer: Ref


@dataclass
class BaselineResult:
    invoices: int
    planned: int
    seconds: float
    throttled: int
    failed: int

    @property
    def per_second(self) -> float:
        return self.invoices / self.seconds if self.seconds > 0 else 0.0


def _consent(authorize_url: str, realm_id: str) -> str:
    with httpx.Client(timeout=30) as browser:
        page = browser.get(authorize_url)
        form = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.text))
        action = httpx.URL(authorize_url).copy_with(query=None)
        reply = browser.post(action, data={**form, "realm_id": realm_id, "action": "connect"})
    return parse_qs(urlparse(reply.headers["location"]).query)["code"][0]


def connect_realm(sandbox: str, app: dict[str, Any]) -> Realm:
    """A new US company, connected through intuitlib's OAuth client; its item, tax code, customer."""
    with httpx.Client(base_url=sandbox, timeout=30) as admin:
        body = {"company_name": f"Baseline {uuid.uuid4().hex[:6]}", "country": "US", "seed": "sample"}
        realm_id = admin.post("/admin/companies", json=body).json()["realm_id"]
    auth = AuthClient(
        app["client_id"],
        app["client_secret"],
        REDIRECT_URI,
        f"{sandbox}/.well-known/openid_sandbox_configuration/",
    )
    auth.get_bearer_token(
        _consent(auth.get_authorization_url([Scopes.ACCOUNTING]), realm_id), realm_id=realm_id
    )
    qb = QuickBooks(auth_client=auth, refresh_token=auth.refresh_token, company_id=realm_id, minorversion=75)
    qb.api_url_v3 = qb.sandbox_api_url_v3 = f"{sandbox}/v3"
    customer = Customer()
    customer.DisplayName = f"Baseline {uuid.uuid4().hex[:8]}"
    return Realm(
        qb=qb,
        item=Item.filter(Name="Services", qb=qb)[0].to_ref(),
        tax_code=TaxCode.filter(Name="California", qb=qb)[0].to_ref(),
        customer=customer.save(qb=qb).to_ref(),
    )


def new_invoice(realm: Realm, number: str) -> Invoice:
    invoice = Invoice()
    invoice.DocNumber = number
    invoice.CustomerRef = realm.customer
    for description, qty, price in LINES:
        line = SalesItemLine()
        line.Description = description
        line.Amount = qty * price
        line.SalesItemLineDetail = SalesItemLineDetail()
        line.SalesItemLineDetail.ItemRef = realm.item
        line.SalesItemLineDetail.Qty = qty
        line.SalesItemLineDetail.UnitPrice = price
        line.SalesItemLineDetail.TaxCodeRef = Ref()
        line.SalesItemLineDetail.TaxCodeRef.value = "TAX"
        invoice.Line.append(line)
    invoice.TxnTaxDetail = TxnTaxDetail()
    invoice.TxnTaxDetail.TxnTaxCodeRef = realm.tax_code
    return invoice


def _throttled(error: QuickbooksException) -> bool:
    return str(error.error_code) in {"3001", "003001", "429"} or "429" in str(error.message)


def push(
    connect: Any, *, realms: int, per_realm: int, time_scale: float, budget_seconds: float
) -> BaselineResult:
    """Realm after realm, invoice after invoice, one save each; stops after ``budget_seconds``.

    Connecting a realm (``connect()``) is set-up, not timed; realms are connected as reached.
    """
    done = throttled = failed = 0
    elapsed = 0.0
    for _ in range(realms):
        if elapsed > budget_seconds:
            break
        realm = connect()
        started = time.perf_counter()
        for _ in range(per_realm):
            if elapsed + time.perf_counter() - started > budget_seconds:
                break
            ok, retries = _save(realm, new_invoice(realm, f"PQ-{uuid.uuid4().hex[:10]}"), time_scale)
            done, failed, throttled = done + ok, failed + (not ok), throttled + retries
        elapsed += time.perf_counter() - started
    return BaselineResult(done, per_realm * realms, elapsed, throttled, failed)


def push_parallel(
    connect: Callable[[], Realm], *, realms: int, per_realm: int, time_scale: float, budget_seconds: float
) -> BaselineResult:
    """One loop per realm (a thread each: the library is synchronous), all started together once
    every realm is connected (set-up, not timed); each stops at ``budget_seconds``."""
    with ThreadPoolExecutor(CONNECT_PARALLEL) as pool:
        connected = list(pool.map(lambda _: connect(), range(realms)))
    gate = threading.Barrier(len(connected) + 1)
    stop_at = 0.0

    def loop(realm: Realm) -> tuple[int, int, int]:
        gate.wait()
        done = throttled = failed = 0
        for _ in range(per_realm):
            if time.perf_counter() > stop_at:
                break
            ok, retries = _save(realm, new_invoice(realm, f"PP-{uuid.uuid4().hex[:10]}"), time_scale)
            done, failed, throttled = done + ok, failed + (not ok), throttled + retries
        return done, throttled, failed

    with ThreadPoolExecutor(len(connected)) as pool:
        futures = [pool.submit(loop, r) for r in connected]
        started = time.perf_counter()
        stop_at = started + budget_seconds
        gate.wait()
        counts = [f.result() for f in futures]
        elapsed = time.perf_counter() - started
    return BaselineResult(
        sum(c[0] for c in counts),
        per_realm * realms,
        elapsed,
        sum(c[1] for c in counts),
        sum(c[2] for c in counts),
    )


def _save(realm: Realm, invoice: Invoice, time_scale: float) -> tuple[bool, int]:
    """One save, waiting out 429s; (saved?, how many 429s)."""
    retries = 0
    while True:
        try:
            invoice.save(qb=realm.qb)
            return True, retries
        except QuickbooksException as error:
            if not _throttled(error):
                return False, retries
            retries += 1
            time.sleep(1 / time_scale)


def run_baseline(
    sandbox: str,
    *,
    realms: int,
    per_realm: int,
    time_scale: float,
    budget_seconds: float,
    parallel: bool = False,
) -> BaselineResult:
    """Push ``realms`` x ``per_realm`` invoices (or what ``budget_seconds`` allows), in one loop
    or (``parallel``) one loop per realm."""
    # requests-oauthlib refuses http:// unless told this is local development.
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    app = httpx.post(
        f"{sandbox}/admin/apps",
        json={"redirect_uris": [REDIRECT_URI], "webhook_format": "legacy"},
        timeout=30,
    ).json()
    return (push_parallel if parallel else push)(
        lambda: connect_realm(sandbox, app),
        realms=realms,
        per_realm=per_realm,
        time_scale=time_scale,
        budget_seconds=budget_seconds,
    )
