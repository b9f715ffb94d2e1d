"""A stand-in for the ``cockroach`` binary (which cannot be installed here), for the launcher tests.

Installed on PATH as ``cockroach``, it records its arguments in ``$FAKE_COCKROACH_ARGS``, then
behaves as ``$FAKE_COCKROACH_MODE`` says: ``ok`` prints a startup report laid out as
``cockroach start-single-node`` prints it and runs until SIGTERM; ``fail`` prints an error and
exits with status 1.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time


def main() -> None:
    """Act as the cockroach binary would, as far as the launcher can see."""
    args = sys.argv[1:]
    with open(os.environ["FAKE_COCKROACH_ARGS"], "w", encoding="utf-8") as file:
        json.dump(args, file)
    if os.environ.get("FAKE_COCKROACH_MODE") == "fail":
        print("ERROR: cockroach server exited with error: listen tcp: address already in use")
        sys.exit(1)
    listen = next(a for a in args if a.startswith("--listen-addr=")).split("=", 1)[1]
    store = next(a for a in args if a.startswith("--store=")).split("=", 1)[1]
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    print("*\n* WARNING: ALL SECURITY CONTROLS HAVE BEEN DISABLED!\n*")
    print("CockroachDB node starting at 2024-01-10 12:00:00 +0000 UTC (took 0.4s)")
    print("build:               CCL v23.1.11 @ 2023/09/27 01:53:43 (go1.19.10)")
    print("webui:               http://127.0.0.1:8080")
    print(f"sql:                 postgresql://root@{listen}/defaultdb?sslmode=disable")
    print(f"RPC client flags:    cockroach <client cmd> --host={listen} --insecure")
    print(f"store[0]:            path={store}")
    print("status:              initialized new cluster")
    print("nodeID:              1", flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
