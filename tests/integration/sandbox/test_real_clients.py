"""Intuit's own Python clients, unmodified, against the sandbox (only their base URLs pointed at it)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError
from quickbooks import QuickBooks
from quickbooks.batch import batch_create
from quickbooks.cdc import change_data_capture
from quickbooks.exceptions import AuthorizationException, QuickbooksException, ValidationException
from quickbooks.objects.customer import Customer
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.item import Item
from quickbooks.objects.payment import Payment

REDIRECT_URI = "http://localhost:9999/callback"


def setup_company_and_app(url: str) -> tuple[str, dict[str, Any]]:
    with httpx.Client(base_url=url) as admin:
        realm_id = admin.post(
            "/admin/companies",
            json={
                "company_name": f"Clients {uuid.uuid4().hex[:6]}",
                "country": "US",
                "edition": "plus",
                "seed": "sample",
            },
        ).json()["realm_id"]
        app = admin.post(
            "/admin/apps", json={"redirect_uris": [REDIRECT_URI], "webhook_format": "legacy"}
        ).json()
    return realm_id, app


def consent(url: str, authorize_url: str, realm_id: str) -> dict[str, list[str]]:
    """Do what a person does on the consent page: pick the company, press Connect."""
    with httpx.Client() as browser:
        page = browser.get(authorize_url)
        form = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.text))
        reply = browser.post(
            f"{url}/connect/oauth2", data={**form, "realm_id": realm_id, "action": "connect"}
        )
    return parse_qs(urlparse(reply.headers["location"]).query)


def connected_auth_client(url: str) -> tuple[AuthClient, str]:
    realm_id, app = setup_company_and_app(url)
    auth = AuthClient(
        app["client_id"],
        app["client_secret"],
        REDIRECT_URI,
        f"{url}/.well-known/openid_sandbox_configuration/",
    )
    callback = consent(url, auth.get_authorization_url([Scopes.ACCOUNTING, Scopes.OPENID]), realm_id)
    assert callback["state"] == [auth.state_token]
    auth.get_bearer_token(callback["code"][0], realm_id=callback["realmId"][0])
    return auth, realm_id


def test_intuit_oauth_client_connects_refreshes_and_revokes(unthrottled_url: str) -> None:
    auth, _realm_id = connected_auth_client(unthrottled_url)
    assert auth.access_token
    assert auth.refresh_token
    assert auth.expires_in == 3600
    assert auth.id_token is not None  # the library validated our RS256 signature against our JWKS
    first_access = auth.access_token
    auth.refresh()
    assert auth.access_token != first_access
    assert auth.get_user_info().json()["email"]
    revoked_refresh = auth.refresh_token
    assert auth.revoke() is True
    with pytest.raises(AuthClientError) as err:
        auth.refresh(refresh_token=revoked_refresh)
    assert err.value.status_code == 400
    assert b"invalid_grant" in err.value.content


def test_intuit_oauth_client_rejects_a_reused_code(unthrottled_url: str) -> None:
    realm_id, app = setup_company_and_app(unthrottled_url)
    auth = AuthClient(
        app["client_id"],
        app["client_secret"],
        REDIRECT_URI,
        f"{unthrottled_url}/.well-known/openid_configuration/",
    )
    code = consent(unthrottled_url, auth.get_authorization_url([Scopes.ACCOUNTING]), realm_id)["code"][0]
    auth.get_bearer_token(code, realm_id=realm_id)
    with pytest.raises(AuthClientError):
        auth.get_bearer_token(code, realm_id=realm_id)


@pytest.fixture(autouse=True)
def plain_http_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    # requests-oauthlib refuses http:// unless told this is local development.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def qb(unthrottled_url: str) -> QuickBooks:
    auth, realm_id = connected_auth_client(unthrottled_url)
    client = QuickBooks(
        auth_client=auth, refresh_token=auth.refresh_token, company_id=realm_id, minorversion=75
    )
    client.api_url_v3 = f"{unthrottled_url}/v3"  # an instance attribute; the library itself is unchanged
    client.sandbox_api_url_v3 = f"{unthrottled_url}/v3"
    return client


def new_invoice(qb: QuickBooks, customer: Customer, amount: str) -> Invoice:
    item = Item.filter(Name="Services", qb=qb)[0]
    line = SalesItemLine()
    line.Amount = Decimal(amount)
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = item.to_ref()
    invoice = Invoice()
    invoice.CustomerRef = customer.to_ref()
    invoice.Line.append(line)
    return invoice.save(qb=qb)


def new_customer(qb: QuickBooks) -> Customer:
    customer = Customer()
    customer.DisplayName = f"PQ {uuid.uuid4().hex[:8]}"
    return customer.save(qb=qb)


def test_python_quickbooks_create_read_query_and_sparse_update(qb: QuickBooks) -> None:
    customer = new_customer(qb)
    assert Customer.get(customer.Id, qb=qb).DisplayName == customer.DisplayName
    assert [c.Id for c in Customer.filter(DisplayName=customer.DisplayName, qb=qb)] == [customer.Id]
    assert Customer.count(qb=qb) >= 1
    customer.sparse = True
    customer.Notes = "sparse"
    updated = customer.save(qb=qb)
    assert updated.SyncToken == "1"
    assert updated.Notes == "sparse"


def test_python_quickbooks_sees_qbo_faults_as_exceptions(qb: QuickBooks) -> None:
    customer = new_customer(qb)
    twin = Customer()
    twin.DisplayName = customer.DisplayName
    with pytest.raises(QuickbooksException) as err:
        twin.save(qb=qb)
    assert err.value.error_code == 6240
    with pytest.raises(ValidationException) as bad_query:
        Customer.where("DisplayName = 'unterminated", qb=qb)
    assert bad_query.value.error_code == 4000


def test_python_quickbooks_item_all(qb: QuickBooks) -> None:
    assert Item.all(max_results=5, qb=qb)


def test_python_quickbooks_invoice_payment_void_and_delete(qb: QuickBooks) -> None:
    customer = new_customer(qb)
    invoice = new_invoice(qb, customer, "120.00")
    assert float(invoice.TotalAmt) == 120.0
    assert invoice.DocNumber
    payment = Payment()
    payment.CustomerRef = customer.to_ref()
    payment.TotalAmt = 20
    payment = payment.save(qb=qb)
    payment.void(qb=qb)
    assert float(Payment.get(payment.Id, qb=qb).TotalAmt) == 0
    invoice.void(qb=qb)
    voided = Invoice.get(invoice.Id, qb=qb)
    assert float(voided.Balance) == 0
    assert voided.PrivateNote.startswith("Voided")
    other = new_invoice(qb, customer, "5.00")
    other.delete(qb=qb)
    assert not Invoice.filter(Id=other.Id, qb=qb)


def test_python_quickbooks_batch_and_cdc(qb: QuickBooks) -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    customers = []
    for _ in range(3):
        customer = Customer()
        customer.DisplayName = f"Batch {uuid.uuid4().hex[:8]}"
        customers.append(customer)
    result = batch_create(customers, qb=qb)
    assert len(result.successes) == 3
    assert not result.faults
    cdc = change_data_capture([Customer, Invoice], since.strftime("%Y-%m-%dT%H:%M:%S+00:00"), qb=qb)
    names = {c.DisplayName for c in cdc.Customer}
    assert {c.DisplayName for c in customers} <= names


def test_python_quickbooks_reports_401_after_revoke(unthrottled_url: str) -> None:
    auth, realm_id = connected_auth_client(unthrottled_url)
    client = QuickBooks(
        auth_client=auth, refresh_token=auth.refresh_token, company_id=realm_id, minorversion=75
    )
    client.api_url_v3 = client.sandbox_api_url_v3 = f"{unthrottled_url}/v3"
    auth.revoke()
    with pytest.raises(AuthorizationException):
        Customer.all(qb=client)
