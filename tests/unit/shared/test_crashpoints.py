"""Crash points: parsed strictly, decided purely, and a real SIGKILL only where armed."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from pydantic import ValidationError

from shared import crashpoints
from shared.crashpoints import Rule
from shared.settings import ServiceSettings


def test_a_setting_names_points_with_every_hit_a_probability_or_the_nth_hit() -> None:
    rules = crashpoints.parse(" exporter.after_write , consumer.after_commit@0.25,outbox.after_publish#3")

    assert rules == {
        "exporter.after_write": Rule(),
        "consumer.after_commit": Rule(probability=0.25),
        "outbox.after_publish": Rule(nth=3),
    }


def test_an_empty_setting_arms_nothing() -> None:
    assert crashpoints.parse("") == {}
    assert crashpoints.parse(" , ") == {}


@pytest.mark.parametrize(
    "spec",
    [
        "exporter.after_wirte",
        "consumer.after_commit@0",
        "consumer.after_commit@1.5",
        "outbox.after_publish#0",
        "x#y",
    ],
)
def test_an_unknown_point_or_a_bad_rule_is_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="crash point"):
        crashpoints.parse(spec)


def test_the_nth_rule_crashes_at_that_hit_only() -> None:
    rule = Rule(nth=3)

    assert [crashpoints.crashes(rule, hit=h, draw=0.0) for h in (1, 2, 3, 4)] == [False, False, True, False]


def test_the_probability_rule_crashes_when_the_draw_is_below_it() -> None:
    rule = Rule(probability=0.3)

    assert crashpoints.crashes(rule, hit=1, draw=0.29)
    assert not crashpoints.crashes(rule, hit=1, draw=0.3)


def test_settings_refuse_crash_points_in_production_and_unknown_names_anywhere() -> None:
    with pytest.raises(ValidationError, match="never production"):
        ServiceSettings(
            environment="production",
            crash_points="exporter.after_write",
            admin_api_key="a-long-enough-random-admin-key",
            internal_token="a-long-enough-random-internal-token",
            database_url="postgresql+asyncpg://u:a-long-enough-db-password@db/x",
            amqp_url="amqp://u:a-long-enough-amqp-password@mq/",
        )
    with pytest.raises(ValidationError, match="unknown crash point"):
        ServiceSettings(environment="test", crash_points="exporter.typo")


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_an_armed_point_kills_the_process_with_sigkill_at_its_hit() -> None:
    done = _run(
        "from shared import crashpoints as c\n"
        "c.configure('outbox.after_publish#2')\n"
        "c.crash_point('outbox.after_publish'); print('first', flush=True)\n"
        "c.crash_point('outbox.after_publish'); print('second', flush=True)\n"
    )

    assert done.returncode == -signal.SIGKILL
    assert done.stdout.split() == ["first"]


def test_an_unarmed_point_does_nothing() -> None:
    done = _run(
        "from shared import crashpoints as c\n"
        "c.configure('consumer.after_commit')\n"
        "c.crash_point('exporter.after_write'); print('still here', flush=True)\n"
    )

    assert done.returncode == 0
    assert done.stdout.strip() == "still here"
