"""One Orion trial, as `orion hunt` runs it: logs through track, reports its objective to Orion.

tests/test_orion.py runs it under a real ``orion hunt``; the store comes from ``TRACK_URI``.
"""

from __future__ import annotations

import argparse

from orion.client import report_objective

from track import TrackClient


def main() -> None:
    """Log the sampled learning rate and a loss curve to track, then report the last loss."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, required=True)
    args = parser.parse_args()

    client = TrackClient()
    client.set_project(name="orion-hunt")
    trial = client.new_trial(name="quadratic")
    trial.log_arguments(lr=args.lr)
    loss = 0.0
    with trial:
        for step in range(3):
            loss = (args.lr - 0.1) ** 2 + 1.0 / (step + 1)
            trial.log_metrics(step=step, loss=loss)
    client.close()
    report_objective(loss)


if __name__ == "__main__":
    main()
