"""``track ui``: serve the web dashboard (needs the ``[ui]`` extra: starlette, uvicorn, plotly)."""

from __future__ import annotations

import argparse
import importlib.util

from track.cli.trials import StoreError, add_store_argument, default_store, open_store

_NEEDED = ("starlette", "uvicorn", "plotly")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's arguments."""
    add_store_argument(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on")


def run(args: argparse.Namespace) -> int:
    """Open the store, then serve the dashboard until interrupted."""
    missing = [name for name in _NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        raise StoreError(f"the dashboard needs {', '.join(missing)}: pip install 'track[ui]'")
    import uvicorn

    from track.dashboard.app import create_app

    uri = args.store or default_store()
    protocol = open_store(uri)
    app = create_app(protocol, title=uri)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning")
    server = uvicorn.Server(config)
    print(f"track ui: serving {uri} on http://{args.host}:{args.port}/", flush=True)
    try:
        server.run()
    finally:
        protocol.close()
    return 0
