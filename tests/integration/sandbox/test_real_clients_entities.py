"""python-quickbooks' own objects, unmodified, driving the round-two entities as its integration tests do."""

from __future__ import annotations

import uuid
from decimal import Decimal

import httpx
import pytest
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from quickbooks import QuickBooks
from quickbooks.objects.account import Account
from quickbooks.objects.attachable import Attachable
from quickbooks.objects.base import AttachableRef, EmailAddress, Ref
from quickbooks.objects.bill import Bill
from quickbooks.objects.companycurrency import CompanyCurrency
from quickbooks.objects.creditcardpayment_entity import CreditCardPayment
from quickbooks.objects.deposit import Deposit, DepositLine, DepositLineDetail
from quickbooks.objects.detailline import (
    AccountBasedExpenseLine,
    AccountBasedExpenseLineDetail,
    ItemBasedExpenseLine,
    ItemBasedExpenseLineDetail,
    SalesItemLine,
    SalesItemLineDetail,
)
from quickbooks.objects.employee import Employee
from quickbooks.objects.estimate import Estimate
from quickbooks.objects.exchangerate import ExchangeRate
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.item import Item
from quickbooks.objects.payment import Payment
from quickbooks.objects.preferences import Preferences
from quickbooks.objects.purchase import Purchase
from quickbooks.objects.recurringtransaction import (
    RecurringBill,
    RecurringInfo,
    RecurringInvoice,
    RecurringTransaction,
    ScheduleInfo,
)
from quickbooks.objects.taxcode import TaxCode
from quickbooks.objects.timeactivity import TimeActivity
from quickbooks.objects.transfer import Transfer
from quickbooks.objects.vendor import Vendor
from quickbooks.objects.vendorcredit import VendorCredit

from tests.integration.sandbox.test_real_clients import REDIRECT_URI, connected_auth_client, consent


@pytest.fixture(autouse=True)
def plain_http_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def client_for(url: str, realm_id: str, auth: AuthClient) -> QuickBooks:
    client = QuickBooks(
        auth_client=auth, refresh_token=auth.refresh_token, company_id=realm_id, minorversion=75
    )
    client.api_url_v3 = client.sandbox_api_url_v3 = f"{url}/v3"
    return client


@pytest.fixture
def qb(unthrottled_url: str) -> QuickBooks:
    auth, realm_id = connected_auth_client(unthrottled_url)
    return client_for(unthrottled_url, realm_id, auth)


def account(qb: QuickBooks, kind: str) -> Account:
    return Account.where(f"AccountType = '{kind}'", qb=qb)[0]


def expense_line(qb: QuickBooks, amount: str) -> AccountBasedExpenseLine:
    line = AccountBasedExpenseLine()
    line.Amount = Decimal(amount)
    line.AccountBasedExpenseLineDetail = AccountBasedExpenseLineDetail()
    line.AccountBasedExpenseLineDetail.AccountRef = account(qb, "Expense").to_ref()
    return line


def test_sample_company_reads_find_transactions_people_and_stock(qb: QuickBooks) -> None:
    assert Payment.all(qb=qb)
    assert Invoice.all(qb=qb)
    assert Bill.all(qb=qb)
    assert Estimate.all(qb=qb)
    assert Employee.all(qb=qb)[0].DisplayName == "Emily Platt"
    assert Item.where("Type = 'Inventory'", qb=qb)
    assert Account.where("AccountType = 'Credit Card'", qb=qb)
    assert [c.Name for c in TaxCode.all(qb=qb)][:2] == ["TAX", "NON"]


def test_purchase_create_read_update_delete(qb: QuickBooks) -> None:
    purchase = Purchase()
    purchase.PaymentType = "Cash"
    purchase.AccountRef = account(qb, "Bank").to_ref()
    purchase.EntityRef = Vendor.all(max_results=1, qb=qb)[0].to_ref()
    purchase.Line.append(expense_line(qb, "25.50"))
    saved = purchase.save(qb=qb)
    assert float(saved.TotalAmt) == 25.5
    read = Purchase.get(saved.Id, qb=qb)
    read.PrivateNote = "lunch"
    updated = read.save(qb=qb)
    assert (str(updated.SyncToken), updated.PrivateNote) == ("1", "lunch")
    assert [p.Id for p in Purchase.filter(PaymentType="Cash", qb=qb)][-1] == saved.Id
    updated.delete(qb=qb)
    assert not Purchase.filter(Id=saved.Id, qb=qb)


def test_vendor_credit_and_credit_card_payment(qb: QuickBooks) -> None:
    credit = VendorCredit()
    credit.VendorRef = Vendor.all(max_results=1, qb=qb)[0].to_ref()
    credit.Line.append(expense_line(qb, "15"))
    assert float(credit.save(qb=qb).TotalAmt) == 15
    payment = CreditCardPayment()
    payment.Amount = 40
    payment.BankAccountRef = account(qb, "Bank").to_ref()
    payment.CreditCardAccountRef = account(qb, "Credit Card").to_ref()
    saved = payment.save(qb=qb)
    assert CreditCardPayment.get(saved.Id, qb=qb).Amount == 40


def test_transfer_and_deposit(qb: QuickBooks) -> None:
    # The statement python-quickbooks' own transfer test sends, `!=` included.
    where = "Classification = 'Asset' AND FullyQualifiedName != 'Accounts Receivable (A/R)'"
    checking, savings = Account.where(where, max_results=2, qb=qb)
    assert (checking.Name, savings.Name) == ("Checking", "Savings")
    transfer = Transfer()
    transfer.Amount = 300
    transfer.FromAccountRef = checking.to_ref()
    transfer.ToAccountRef = savings.to_ref()
    assert float(transfer.save(qb=qb).Amount) == 300
    deposit = Deposit()
    deposit.DepositToAccountRef = checking.to_ref()
    line = DepositLine()
    line.Amount = 75
    line.DepositLineDetail = DepositLineDetail()
    line.DepositLineDetail.AccountRef = account(qb, "Income").to_ref()
    deposit.Line.append(line)
    saved = deposit.save(qb=qb)
    assert float(saved.TotalAmt) == 75
    assert Deposit.get(saved.Id, qb=qb).Line[0].DepositLineDetail.AccountRef.value


def test_time_activity_for_an_employee(qb: QuickBooks) -> None:
    activity = TimeActivity()
    activity.NameOf = "Employee"
    activity.EmployeeRef = Employee.all(max_results=1, qb=qb)[0].to_ref()
    activity.Hours = 2
    activity.Minutes = 15
    activity.TxnDate = "2026-11-30"
    saved = activity.save(qb=qb)
    assert (saved.Hours, saved.Minutes) == (2, 15)
    assert TimeActivity.filter(NameOf="Employee", qb=qb)


def test_attachable_note_and_file_upload(qb: QuickBooks) -> None:
    vendor = Vendor.all(max_results=1, qb=qb)[0]
    note = Attachable()
    note.Note = "W-9 on file"
    ref = AttachableRef()
    ref.EntityRef = vendor.to_ref()
    note.AttachableRef.append(ref)
    saved = note.save(qb=qb)
    assert Attachable.get(saved.Id, qb=qb).Note == "W-9 on file"
    upload = Attachable()
    upload.FileName = "receipt.txt"
    upload.ContentType = "text/plain"
    upload._FileBytes = b"paid, thank you"
    upload.AttachableRef.append(ref)
    stored = upload.save(qb=qb)
    assert (stored.FileName, stored.Size) == ("receipt.txt", 15)


def test_recurring_invoice(qb: QuickBooks) -> None:
    invoice = RecurringInvoice()
    invoice.CustomerRef = Ref()
    invoice.CustomerRef.value = "1"
    line = SalesItemLine()
    line.Amount = 50
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = Item.filter(Name="Services", qb=qb)[0].to_ref()
    invoice.Line.append(line)
    invoice.RecurringInfo = RecurringInfo()
    invoice.RecurringInfo.Name = f"Monthly {uuid.uuid4().hex[:6]}"
    invoice.RecurringInfo.Active = True
    invoice.RecurringInfo.ScheduleInfo = ScheduleInfo()
    invoice.RecurringInfo.ScheduleInfo.IntervalType = "Monthly"
    invoice.RecurringInfo.ScheduleInfo.NumInterval = 1
    invoice.RecurringInfo.ScheduleInfo.DayOfMonth = 1
    invoice.RecurringInfo.ScheduleInfo.StartDate = "2026-12-01"
    recurring = RecurringTransaction()
    recurring.Invoice = invoice
    saved = recurring.save(qb=qb)
    assert saved.Invoice.Id
    read = RecurringTransaction.get(saved.Invoice.Id, qb=qb)
    assert read.Invoice.RecurringInfo.Name == invoice.RecurringInfo.Name
    assert RecurringTransaction.all(qb=qb)
    read.delete(qb=qb)
    assert not RecurringTransaction.all(qb=qb)


def test_preferences_sections_read_through_the_client(qb: QuickBooks) -> None:
    prefs = Preferences.get(qb=qb)

    assert prefs.EmailMessagesPrefs.InvoiceMessage.Subject
    assert prefs.TimeTrackingPrefs.WorkWeekStartDate == "Monday"
    assert prefs.ReportPrefs.ReportBasis == "Accrual"


def test_invoice_link_through_the_client(qb: QuickBooks) -> None:
    with_email = Invoice.all(max_results=1, qb=qb)[0]
    with_email.BillEmail = EmailAddress()
    with_email.BillEmail.Address = "amy@example.com"
    saved = with_email.save(qb=qb)
    linked = Invoice.get(saved.Id, qb=qb, params={"include": "invoiceLink"})
    assert linked.InvoiceLink.startswith("https://")


def test_multicurrency_company_currency_and_exchange_rate(unthrottled_url: str) -> None:
    with httpx.Client(base_url=unthrottled_url) as admin:
        realm_id = admin.post(
            "/admin/companies", json={"company_name": "Multi", "country": "US", "multicurrency": True}
        ).json()["realm_id"]
        app = admin.post("/admin/apps", json={"redirect_uris": [REDIRECT_URI]}).json()
    auth = AuthClient(
        app["client_id"],
        app["client_secret"],
        REDIRECT_URI,
        f"{unthrottled_url}/.well-known/openid_sandbox_configuration/",
    )
    callback = consent(unthrottled_url, auth.get_authorization_url([Scopes.ACCOUNTING]), realm_id)
    auth.get_bearer_token(callback["code"][0], realm_id=realm_id)
    qb = client_for(unthrottled_url, realm_id, auth)
    currency = CompanyCurrency()
    currency.Code = "EUR"
    saved = currency.save(qb=qb)
    assert saved.Name == "Euro"
    rate = ExchangeRate.where("SourceCurrencyCode = 'EUR'", qb=qb)[0]
    rate.Rate = 1.5
    rate.AsOfDate = "2026-06-01"
    assert float(rate.save(qb=qb).Rate) == 1.5
    assert CompanyCurrency.all(qb=qb)[0].Code == "EUR"


def test_preferences_update_through_the_client(qb: QuickBooks) -> None:
    prefs = Preferences.get(qb=qb)
    assert prefs.AccountingInfoPrefs.TaxYearMonth == "January"
    assert prefs.OtherPrefs.NameValue[0].Name == "SalesFormsPrefs.DefaultCustomerMessage"
    prefs.EmailMessagesPrefs.EstimateMessage.Subject = "Your estimate"
    prefs.save(qb=qb)

    assert Preferences.get(qb=qb).EmailMessagesPrefs.EstimateMessage.Subject == "Your estimate"


def test_timed_activity_then_updated(qb: QuickBooks) -> None:
    activity = TimeActivity()
    activity.NameOf = "Employee"
    activity.EmployeeRef = Employee.all(max_results=1, qb=qb)[0].to_ref()
    activity.Description = "Pruning"
    activity.StartTime = "2026-07-22T10:00:00-07:00"
    activity.EndTime = "2026-07-22T11:00:00-07:00"
    activity.CostRate = 50.0
    activity.save(qb=qb)
    first = TimeActivity.all(max_results=1, qb=qb)[0]
    first.Description = "Pruning, updated"
    first.save(qb=qb)

    assert TimeActivity.get(first.Id, qb=qb).Description == "Pruning, updated"


def test_purchase_of_inventory_by_card_with_the_first_tax_code(qb: QuickBooks) -> None:
    item = Item.filter(Type="Inventory", max_results=1, qb=qb)[0]
    code = TaxCode.all(max_results=1, qb=qb)[0]
    line = ItemBasedExpenseLine()
    line.Amount = 100
    line.ItemBasedExpenseLineDetail = ItemBasedExpenseLineDetail()
    line.ItemBasedExpenseLineDetail.UnitPrice = 100
    line.ItemBasedExpenseLineDetail.Qty = 1
    line.ItemBasedExpenseLineDetail.ItemRef = item.to_ref()
    line.ItemBasedExpenseLineDetail.TaxCodeRef = code.to_ref()
    purchase = Purchase()
    purchase.DocNumber = "Doc123"
    purchase.PaymentType = "CreditCard"
    purchase.AccountRef = account(qb, "Credit Card").to_ref()
    purchase.Line.append(line)
    purchase.save(qb=qb, params={"include": "allowduplicatedocnum"})

    read = Purchase.get(purchase.Id, qb=qb)
    assert (read.DocNumber, float(read.TotalAmt)) == ("Doc123", 100)
    assert read.Line[0].ItemBasedExpenseLineDetail.TaxCodeRef.value == "TAX"


def test_recurring_bill_is_found_by_type(qb: QuickBooks) -> None:
    bill = RecurringBill()
    bill.VendorRef = Vendor.all(max_results=1, qb=qb)[0].to_ref()
    bill.Line.append(expense_line(qb, "500"))
    bill.RecurringInfo = RecurringInfo()
    bill.RecurringInfo.Active = True
    bill.RecurringInfo.Name = f"Rent {uuid.uuid4().hex[:6]}"
    bill.RecurringInfo.ScheduleInfo = ScheduleInfo()
    bill.RecurringInfo.ScheduleInfo.StartDate = "2026-12-04"
    bill.RecurringInfo.ScheduleInfo.EndDate = "2027-02-26"
    bill.RecurringInfo.ScheduleInfo.IntervalType = "Weekly"
    bill.RecurringInfo.ScheduleInfo.DayOfWeek = "Friday"
    recurring = RecurringTransaction()
    recurring.Bill = bill
    saved = recurring.save(qb=qb)

    found = RecurringTransaction.where("Type = 'Bill'", qb=qb)
    assert [r.Bill.Id for r in found] == [saved.Bill.Id]
    assert (
        RecurringTransaction.get(saved.Bill.Id, qb=qb).Bill.RecurringInfo.ScheduleInfo.DayOfWeek == "Friday"
    )


def test_attachable_note_updated_through_all(qb: QuickBooks) -> None:
    note = Attachable()
    note.Note = "first"
    note.save(qb=qb)
    first = Attachable.all(max_results=1, qb=qb)[0]
    first.Note = "second"
    first.save(qb=qb)

    assert Attachable.get(first.Id, qb=qb).Note == "second"
