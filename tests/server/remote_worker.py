"""A client "host" for the remote-host tests, run inside a network namespace.

``python remote_worker.py URI NAME STEPS PAUSE_EVERY [--barrier]``: log STEPS steps of the metric
``loss`` to a new trial NAME of the project ``remote``, sleeping 1 ms every PAUSE_EVERY steps
(0: never) the way a training loop takes time between steps, then close the client. With
``--barrier`` it prints ``ready`` once its trial exists and waits for a line on stdin before the
first step, so that several clients start logging together. Ends with one JSON line:
``{"ok": true}``, or ``{"error": "<exception class>", "message": "..."}`` and exit code 3 when
the client raised, so the test sees exactly what a user would.
"""

from __future__ import annotations

import json
import sys
import time

from track.client import TrackClient


def main(uri: str, name: str, steps: int, pause_every: int, barrier: bool) -> int:
    """Log the steps; report the outcome as one JSON line on stdout."""
    try:
        client = TrackClient(uri)
        client.set_project(name="remote")
        with client.new_trial(name=name, parameters={"worker": name}) as logger:
            if barrier:
                print("ready", flush=True)
                sys.stdin.readline()
            for step in range(steps):
                logger.log_metrics(step=step, loss=step * 0.5)
                if pause_every and step % pause_every == 0:
                    time.sleep(0.001)
        client.close()
    except Exception as error:
        print(json.dumps({"error": type(error).__name__, "message": str(error)}), flush=True)
        return 3
    print(json.dumps({"ok": True}), flush=True)
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(main(args[0], args[1], int(args[2]), int(args[3]), "--barrier" in args[4:]))
