"""Which platform published an event, and whether it owns the event's tenant."""

from __future__ import annotations

from services.mapper import platforms


def test_an_ingress_key_names_its_platform_and_an_internal_key_none() -> None:
    assert platforms.publishing_platform("acme.invoice.approved", "invoice.approved") == "acme"
    assert platforms.publishing_platform("invoice.invoice.approved", "invoice.approved") == "invoice"
    assert platforms.publishing_platform("invoice.approved", "invoice.approved") is None
    assert platforms.publishing_platform("", "invoice.approved") is None


def test_a_platform_may_send_only_for_its_own_tenants_and_learns_nothing_of_others() -> None:
    own = platforms.refusal(platform="a", owner="a", tenant_id="t1")
    elsewhere = platforms.refusal(platform="b", owner="a", tenant_id="t1")
    nobody = platforms.refusal(platform="b", owner=None, tenant_id="t1")
    no_tenant = platforms.refusal(platform="b", owner=None, tenant_id=None)

    assert own is None
    assert elsewhere is not None
    assert nobody is not None
    assert no_tenant is not None
    assert elsewhere.code == "tenant_not_owned"
    assert elsewhere.message == nobody.message
    assert "'a'" not in elsewhere.message


def test_the_platform_events_queue_binds_every_platform_prefix_on_ingress() -> None:
    assert platforms.ingress_keys(("invoice.approved",)) == ["*.invoice.approved"]
