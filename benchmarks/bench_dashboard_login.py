"""Password guesses per second one address gets through ``track ui``'s login throttle.

Run ``python benchmarks/bench_dashboard_login.py [--seconds 30] [--clients 8]``. It starts the
real ``track ui --users`` on a free loopback port over an empty SQLite store, then ``--clients``
threads post wrong passwords as fast as they can for ``--seconds``, and prints how many were
checked (401: scrypt ran) and how many were refused by the throttle before any check (429).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

from track.persistence import get_protocol
from track.server.auth import save_user

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "dashboard"))
from uiprocess import running_ui


def guess(url: str) -> int:
    """One wrong-password login; its HTTP status."""
    body = json.dumps({"username": "alice", "password": "a guess"}).encode()
    request = urllib.request.Request(
        url + "/api/login", data=body, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as error:
        error.close()
        return error.code


def main() -> None:
    """Measure and print the guess rate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    save_user(str(folder / "users.toml"), "alice", "the right password")
    store = f"sqlite:///{folder / 'store.db'}"
    get_protocol(store).close()
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    with running_ui(store, "--users", str(folder / "users.toml")) as url:
        end = time.monotonic() + args.seconds

        def client() -> None:
            while time.monotonic() < end:
                status = guess(url)
                with lock:
                    statuses[status] += 1

        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    checked = statuses[401]
    print(f"{args.clients} clients from one address for {args.seconds:.0f} s:")
    print(f"  passwords checked (401): {checked} = {checked / args.seconds:.2f} guesses/s")
    print(f"  refused by the throttle before any check (429): {statuses[429]}")
    print(f"  other answers: {dict((k, v) for k, v in statuses.items() if k not in (401, 429))}")


if __name__ == "__main__":
    main()
