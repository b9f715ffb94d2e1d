"""A search worker for the reservation kill test: reserve trials until none is left.

Prints the uid of every trial it reserved, one per line, so the test can check that no trial
was reserved twice and none was reserved without a worker knowing.
"""

from __future__ import annotations

import sys
import time

from track.persistence import get_protocol
from track.structure import Status


def main(uri: str) -> None:
    """Reserve ``CreatedGroup`` trials of project ``search`` one at a time until none is left."""
    store = get_protocol(uri)
    while True:
        trial = store.fetch_and_update_trial(
            {"project_id": "search", "status": "CreatedGroup"}, "set_trial_status", Status.Running
        )
        if trial is None:
            break
        print(trial.uid, flush=True)
        time.sleep(0.05)
    store.close()


if __name__ == "__main__":
    main(sys.argv[1])
