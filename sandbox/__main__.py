"""`python -m sandbox --host 127.0.0.1 --port 8090`: serve the QBO emulator."""

from __future__ import annotations

import argparse

import uvicorn

from sandbox.app import create_app
from sandbox.limits import LimitSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="sandbox", description="A local QuickBooks Online emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--webhook-delay", type=float, default=None, help="seconds before webhooks go out")
    parser.add_argument("--time-scale", type=float, default=1.0, help="compress throttle windows and retries")
    parser.add_argument("--no-limits", action="store_true", help="start with Intuit's throttles off")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    limits = LimitSettings(enabled=not args.no_limits, time_scale=args.time_scale)
    app = create_app(limits=limits, webhook_delay=args.webhook_delay)
    # Idle connections are kept longer than clients keep them (httpx: 5 s), so a client never
    # reuses one the server is closing at that moment ("Server disconnected without a response").
    uvicorn.run(
        app, host=args.host, port=args.port, log_level=args.log_level, access_log=False, timeout_keep_alive=30
    )


if __name__ == "__main__":
    main()
