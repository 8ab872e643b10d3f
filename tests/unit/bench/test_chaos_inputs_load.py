"""make chaos: the load has every out-of-order shape per tenant, and the bulk and void checks judge right."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from bench import chaos_inputs, chaos_load, chaos_oracle
from scripts.journey import Tenant

TENANTS = [Tenant(f"t{i}", f"r{i}", f"c{i}", f"k{i}") for i in range(3)]


@pytest.mark.parametrize("seed", [1, 12, 99])
def test_every_tenant_has_a_void_and_an_update_before_their_create_and_a_payment(seed: int) -> None:
    stories = chaos_load.stories(seed, TENANTS, 3)
    for tenant in TENANTS:
        own = [s for s in stories if s.tenant is tenant]
        early_void = [s for s in own if s.swapped == "voided"]
        assert early_void
        assert all(s.voided for s in early_void)
        assert all(s.delivery[0].type == "invoice.voided" for s in early_void)
        early_update = [s for s in own if s.swapped == "updated"]
        assert early_update
        assert all(s.delivery[0].type == "invoice.updated" for s in early_update)
        assert any(s.paid is not None for s in own)
    figures = chaos_load.figures(stories)
    assert figures["void_before_create"] >= 3
    assert figures["update_before_create"] >= 3


def _story(*, swapped: str | None, voided: bool) -> chaos_load.Story:
    story = chaos_load.Story(TENANTS[0], "CH1-0-0", voided=voided, swapped=swapped)
    story.subtotal = Decimal("10.00")
    return story


def _problems() -> dict[str, list[str]]:
    keys = ("missing_in_qbo", "doubled_in_qbo", "wrong_amounts", "wrong_void_state", "wrong_payments")
    return {k: [] for k in (*keys, "void_before_create_live")}


def test_a_void_delivered_first_must_leave_no_live_invoice() -> None:
    live = {"Id": "7", "DocNumber": "CH1-0-0", "Line": [], "Balance": 10, "TotalAmt": 10}
    voided = live | {"Id": "8", "PrivateNote": "Voided"}
    problems = _problems()
    chaos_oracle._check_qbo(_story(swapped="voided", voided=True), [live, voided], [], problems)
    assert problems["void_before_create_live"] == ["CH1-0-0: live invoice(s) ['7']"]
    problems = _problems()
    chaos_oracle._check_qbo(_story(swapped="voided", voided=True), [voided], [], problems)
    assert not problems["void_before_create_live"]
    assert not problems["wrong_void_state"]


def _line(event_id: str) -> bytes:
    envelope = {"specversion": "1.0", "id": event_id, "source": "s", "type": "invoice.approved"}
    return json.dumps(envelope).encode()


BODY = b"\n".join([_line("a"), b"{not json", b"", _line("b")]) + b"\n"


def _check(status: int, answer: Any) -> chaos_inputs.Inputs:
    inputs = chaos_inputs.Inputs()
    chaos_inputs.check_bulk_answer(inputs, BODY, status, answer)
    return inputs


def test_bulk_lines_admitted_or_refused_with_line_and_path_are_accounted() -> None:
    refused = [{"line": 2, "problems": [{"path": "$", "message": "not JSON"}]}]
    inputs = _check(202, {"batch_id": "x", "accepted": 2, "rejected": refused})
    assert not inputs.bulk_problems
    assert inputs.accepted_ids == {"a", "b"}  # each admitted line's id must then have an outcome
    assert inputs.bulk_lines == {"admitted": 2, "refused": 1}


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        (202, {"accepted": 3, "rejected": []}),  # the broken line said to be admitted
        (202, {"accepted": 2, "rejected": [{"line": 2, "problems": [{"message": "no path"}]}]}),
        (202, {"accepted": 2, "rejected": [{"line": 3, "problems": [{"path": "$"}]}]}),  # a blank line
        (202, {"accepted": 2, "rejected": []}),  # a line neither admitted nor refused
        (500, None),
    ],
)
def test_a_bulk_line_not_accounted_for_is_a_problem(status: int, answer: Any) -> None:
    assert _check(status, answer).bulk_problems


def test_the_load_kept_running_through_the_crash_phases_is_seeded_and_never_reuses_a_number() -> None:
    planned = {s.number for s in chaos_load.stories(5, TENANTS, 3)}
    more = chaos_load.continued(5, TENANTS, 3)
    first = [next(more) for _ in range(12)]
    again = chaos_load.continued(5, TENANTS, 3)

    assert [s.number for s in first] == [next(again).number for _ in range(12)]
    assert len({s.number for s in first}) == 12
    assert not planned & {s.number for s in first}
    assert {s.tenant.tenant_id for s in first} == {t.tenant_id for t in TENANTS}
