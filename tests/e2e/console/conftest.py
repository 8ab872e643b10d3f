"""The console as a real process in front of the e2e stack, and headless Debian chromium to drive it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.e2e.conftest import READY_BOUND, ROOT, Stack
from tests.helpers.infra import die_with_parent
from tests.helpers.sandbox import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Kept after the run (``.run/`` is git-ignored): one PNG per page, named after the test step.
SCREENSHOTS = ROOT / ".run" / "console-screenshots"


@dataclass(frozen=True)
class Console:
    url: str
    sandbox: str


def _start_console(stack: Stack, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "QBB_ENVIRONMENT": "test",
        "QBB_HTTP_PORT": str(port),
        "QBB_AUTH_URL": stack.ends.auth,
        "QBB_MAPPER_URL": stack.ends.mapper,
        "QBB_EXPORTER_URL": stack.ends.exporter,
        "QBB_WEBHOOKS_URL": stack.ends.webhooks,
        "QBB_SANDBOX_URL": stack.ends.sandbox,
    }
    log = (stack.logs / "console.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "services.console"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,
    )


@pytest.fixture(scope="session")
async def console(stack: Stack) -> AsyncIterator[Console]:
    port = free_port()
    process = _start_console(stack, port)
    url = f"http://127.0.0.1:{port}"
    try:
        # The e2e stack's bound (a loaded 2-core machine); returns once the console is ready.
        async with httpx.AsyncClient(timeout=2) as http, asyncio.timeout(READY_BOUND):
            while True:
                if process.poll() is not None:
                    raise RuntimeError(
                        f"the console exited with {process.returncode}; see {stack.logs}/console.log"
                    )
                try:
                    if (await http.get(f"{url}/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        yield Console(url=url, sandbox=stack.ends.sandbox)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium; its absence fails the run (a skipped page test would prove nothing)."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (.ci/run does it)", pytrace=False)
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium, args=CHROMIUM_FLAGS, headless=True
        )
        yield launched
        await launched.close()


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    opened = await browser.new_context(viewport={"width": 1280, "height": 900})
    opened.set_default_timeout(20_000)
    yield opened
    await opened.close()


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


async def shot(page: Page, folder: Path, name: str) -> Path:
    """A full-page PNG of what the person sees now."""
    path = folder / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
