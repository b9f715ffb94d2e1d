"""``track ui``: serve the web dashboard (needs the ``[ui]`` extra: starlette, uvicorn, plotly).

On a loopback address the dashboard is open to this machine. Beyond loopback it needs users
(``--users``, the same file as ``track serve``) and then a login, or an explicit ``--no-auth``.
Editing trials from the page (rename, note, tags, delete) is allowed on a loopback address,
and beyond it only with ``--allow-edit``.
"""

from __future__ import annotations

import argparse
import importlib.util

from track.cli import UserError
from track.cli.store import add_store_argument, default_store
from track.dashboard.auth import (
    WILDCARDS,
    allowed_hosts,
    check_exposure,
    is_loopback,
    parse_duration,
)
from track.persistence.utils import redact
from track.reading import open_store

_NEEDED = ("starlette", "uvicorn", "plotly")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's arguments."""
    add_store_argument(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on")
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests for this Host name (repeatable; '*.example.org' patterns); "
        "by default only localhost, 127.0.0.1, ::1 and --host",
    )
    parser.add_argument(
        "--users", help="users file (track users add) to log in with; else TRACK_SERVER_USERS"
    )
    parser.add_argument(
        "--no-auth",
        action="store_true",
        help="serve beyond loopback without a login: anyone who reaches the port reads the store",
    )
    parser.add_argument(
        "--session-lifetime",
        default="12h",
        help="how long a login lasts, e.g. 90s, 30m, 12h (default), 2d",
    )
    parser.add_argument(
        "--allow-edit",
        action="store_true",
        help="allow renaming, notes, tags and deleting trials from the page beyond loopback "
        "(on a loopback address editing is always allowed)",
    )
    parser.add_argument("--tls-cert", help="certificate chain (PEM): serve over HTTPS")
    parser.add_argument("--tls-key", help="private key (PEM) of --tls-cert")


def run(args: argparse.Namespace) -> int:
    """Check who may connect, open the store, then serve the dashboard until interrupted."""
    missing = [name for name in _NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(f"the dashboard needs {', '.join(missing)}: pip install 'track[ui]'")
    from track.server.auth import load_users

    if bool(args.tls_cert) != bool(args.tls_key):
        raise UserError("HTTPS needs both --tls-cert and --tls-key")
    lifetime = parse_duration(args.session_lifetime)
    users = load_users(args.users)  # a --users file without users is refused there
    check_exposure(args.host, bool(users), args.no_auth)
    hosts = allowed_hosts(args.host, args.allow_host)

    import uvicorn

    from track.dashboard.app import create_app

    uri = args.store or default_store()
    protocol = open_store(uri)
    app = create_app(
        protocol,
        title=redact(uri),
        hosts=hosts,
        users=users,
        session_lifetime=lifetime,
        no_auth=args.no_auth,
        edit=args.allow_edit or is_loopback(args.host),
    )
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        ssl_certfile=args.tls_cert,
        ssl_keyfile=args.tls_key,
        timeout_graceful_shutdown=2,  # edits are one transaction each; a silent TLS peer must not hold the exit
    )
    server = uvicorn.Server(config)
    scheme = "https" if args.tls_cert else "http"
    address = f"[{args.host}]" if ":" in args.host else args.host
    access = f"login: {len(users)} users" if users else "no login"
    print(
        f"track ui: serving {redact(uri)} on {scheme}://{address}:{args.port}/ ({access})",
        flush=True,
    )
    if args.no_auth:
        print("track ui: --no-auth: anyone who can reach this port can read the store", flush=True)
    if args.allow_edit and not is_loopback(args.host):
        print(
            "track ui: --allow-edit: whoever may read the store here may also edit and delete trials",
            flush=True,
        )
    if args.host in WILDCARDS:
        print(
            f"track ui: answering only Host names {', '.join(hosts)}; "
            "add the names other machines use with --allow-host",
            flush=True,
        )
    try:
        server.run()
    finally:
        protocol.close()
    return 0
