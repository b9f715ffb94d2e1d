"""``track serve --store URI``: run a track server that owns one store (see docs/server.md)."""

from __future__ import annotations

import argparse
import logging


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's arguments."""
    parser.add_argument("--store", required=True, help="URI of the store the server owns")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8123, help="port (0: any free port)")
    parser.add_argument("--security-layer", choices=["AES", "TLS", "none"], default="none")
    parser.add_argument("--users", help="users file (track users add); else TRACK_SERVER_USERS")
    parser.add_argument("--key-file", help="the AES layer's long-term key (created if missing)")
    parser.add_argument("--tls-cert", help="certificate chain (PEM) for the TLS layer")
    parser.add_argument("--tls-key", help="private key (PEM) for the TLS layer")
    parser.add_argument(
        "--allow-remote-without-users",
        action="store_true",
        help="accept non-loopback clients although no users are configured (no authentication)",
    )
    parser.add_argument("--max-frame", type=int, help="largest accepted frame, in bytes")
    parser.add_argument("--read-timeout", type=float, help="seconds to finish a started frame")
    parser.add_argument(
        "--idle-timeout", type=float, help="seconds before an idle client is closed"
    )
    parser.add_argument(
        "--login-timeout", type=float, help="seconds a new connection has to log in (5)"
    )
    parser.add_argument(
        "--login-penalty",
        type=float,
        help="seconds an address waits after a failed login, doubling per failure (0.25, up to 5)",
    )
    parser.add_argument("--max-connections", type=int, help="logged-in clients at once (512)")
    parser.add_argument(
        "--max-pending", type=int, help="connections not logged in yet, all addresses (128)"
    )
    parser.add_argument(
        "--max-pending-per-address",
        type=int,
        help="connections not logged in yet from one address (16)",
    )
    parser.add_argument(
        "--max-logins-per-address",
        type=int,
        help="passwords checked at once for one address (2)",
    )
    parser.add_argument(
        "--upload-dir",
        help="folder for artifact uploads in progress, private to this user (made if missing;"
        " default: track-uploads-<uid> in the system's temp folder)",
    )


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM/SIGINT; exit 0 once in-flight requests are done and the store committed."""
    from track.server.server import SocketServer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    limits = (
        "max_frame",
        "read_timeout",
        "idle_timeout",
        "login_timeout",
        "login_penalty",
        "max_connections",
        "max_pending",
        "max_pending_per_address",
        "max_logins_per_address",
    )
    extra = {key: getattr(args, key) for key in limits if getattr(args, key) is not None}
    server = SocketServer(
        store=args.store,
        host=args.host,
        port=args.port,
        security_layer=None if args.security_layer == "none" else args.security_layer,
        users_file=args.users,
        key_file=args.key_file,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        allow_remote_without_users=args.allow_remote_without_users,
        upload_dir=args.upload_dir,
        **extra,
    )
    server.run_server()
    return 0
