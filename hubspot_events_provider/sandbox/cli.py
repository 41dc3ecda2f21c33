"""``hubspot-sandbox`` command: run the local HubSpot sandbox until Ctrl-C or SIGTERM.

Example: ``hubspot-sandbox --port 8765 --rate-limit 100 --rate-window 10 --partial-mode 207``.
Prints the base URL and the Bearer token to use, then serves on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from hubspot_events_provider.sandbox.config import (
    DEFAULT_CUSTOM_PROPERTIES,
    DEFAULT_READ_LAG_S,
    PARTIAL_MODES,
    ROW_ERROR_SHAPES,
    SandboxConfig,
)
from hubspot_events_provider.sandbox.server import SandboxServer

#: The Bearer token the sandbox accepts when no ``--token`` is given (a public test value).
DEFAULT_TOKEN = "sandbox-token"  # noqa: S105


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``hubspot-sandbox``."""
    parser = argparse.ArgumentParser(
        prog="hubspot-sandbox", description="Run a local HubSpot-compatible Marketing Events API."
    )
    add = parser.add_argument
    add("--port", type=int, default=8765, help="port on 127.0.0.1, 0 = any free port (default: %(default)s)")
    add("--token", action="append", help=f"valid static Bearer token, repeatable (default: {DEFAULT_TOKEN})")
    add(
        "--rate-limit",
        type=int,
        default=None,
        help="requests per rolling window; HubSpot allows 100, 190 or 250 (default: unlimited)",
    )
    add(
        "--rate-window",
        type=float,
        default=10.0,
        help="rolling window length, seconds (default: %(default)s)",
    )
    add(
        "--daily-limit",
        type=int,
        default=None,
        help="429 DAILY after this many requests (default: unlimited)",
    )
    add(
        "--partial-mode",
        choices=PARTIAL_MODES,
        default="200",
        help="answer to a partly invalid batch (default: %(default)s)",
    )
    add(
        "--row-error-shape",
        choices=ROW_ERROR_SHAPES,
        default="count",
        help="how a per-row upsert error names its row (default: %(default)s, the least helpful)",
    )
    add(
        "--custom-property",
        action="append",
        help="a custom property the account defines, repeatable; others are dropped silently "
        f"(default: {', '.join(DEFAULT_CUSTOM_PROPERTIES)})",
    )
    add("--missing-scopes", action="store_true", help="answer 403 MISSING_SCOPES")
    add(
        "--latency",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        default=(0.0, 0.0),
        help="uniform random latency per request, seconds (default: 0 0)",
    )
    add(
        "--access-token-ttl",
        type=float,
        default=1800,
        help="OAuth expires_in, seconds (default: %(default)s)",
    )
    add("--retry-after", action="store_true", help="add Retry-After to 429 answers")
    add(
        "--read-lag",
        type=float,
        default=DEFAULT_READ_LAG_S,
        help="seconds before a written event shows in API reads (list, read, search); HubSpot: "
        "'a few minutes'; 0 = at once (default: %(default)s)",
    )
    add("--seed", type=int, default=0, help="seed of latency and fault randomness (default: %(default)s)")
    return parser


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    """Build a :class:`SandboxConfig` from parsed arguments.

    :param args: the result of :func:`build_parser` ``.parse_args()``.
    """
    return SandboxConfig(
        tokens=tuple(args.token) if args.token else (DEFAULT_TOKEN,),
        rate_limit=args.rate_limit,
        rate_window_s=args.rate_window,
        daily_limit=args.daily_limit,
        partial_mode=args.partial_mode,
        row_error_shape=args.row_error_shape,
        custom_properties=tuple(args.custom_property) if args.custom_property else DEFAULT_CUSTOM_PROPERTIES,
        missing_scopes=args.missing_scopes,
        latency_s=(args.latency[0], args.latency[1]),
        access_token_ttl_s=args.access_token_ttl,
        retry_after_header=args.retry_after,
        read_lag_s=args.read_lag,
        seed=args.seed,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sandbox until interrupted; returns the exit code.

    :param argv: command-line arguments (default ``sys.argv[1:]``).
    """
    args = build_parser().parse_args(argv)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = SandboxServer(config_from_args(args), port=args.port)
    try:
        server.start()
    except OSError as exc:  # a busy port, most often: one line, not a traceback
        print(
            f"hubspot-sandbox: cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}", file=sys.stderr
        )
        return 2
    with server as sandbox:
        # The sandbox token is a local, public test value: printing it is the point of the CLI.
        print(f"HubSpot sandbox listening on {sandbox.url}", flush=True)
        print(f"Bearer token: {sandbox.token}", flush=True)
        print(
            "Introspection: GET /_sandbox/health, /_sandbox/events, /_sandbox/stats; Ctrl-C to stop",
            flush=True,
        )
        while not stop.wait(0.2):
            pass
    print("HubSpot sandbox stopped", flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
