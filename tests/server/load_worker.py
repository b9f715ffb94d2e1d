"""A client process for the load tests: one trial, STEPS steps of three metrics, then exit."""

from __future__ import annotations

import sys
import time

from track.client import TrackClient


def main(uri: str, name: str, steps: int, pause_every: int) -> None:
    """Log ``steps`` steps of loss/acc/lr to a new trial named ``name``."""
    client = TrackClient(uri)
    client.set_project(name="load")
    with client.new_trial(name=name, parameters={"worker": name}) as logger:
        for step in range(steps):
            logger.log_metrics(step=step, loss=step * 0.5, acc=step * 0.25, lr=1.0)
            if pause_every and step % pause_every == 0:
                time.sleep(0.03)
    client.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
