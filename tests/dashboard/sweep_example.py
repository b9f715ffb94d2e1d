"""A small, real training sweep logged with track: what the dashboard and CLI tests look at.

``python sweep_example.py [TRIALS] [STEPS]`` logs TRIALS trials of a learning-rate sweep in
project ``demo``, group ``sweep``, into the store named by ``TRACK_URI``. Each trial fits a
line by gradient descent and logs ``loss`` every step and ``accuracy`` every 10 steps.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile

from track import TrackClient


def train(client: TrackClient, lr: float, batch_size: int, steps: int) -> None:
    """Fit y = 3x + 1 with SGD, logging the loss curve."""
    trial = client.new_trial(
        name=f"lr={lr}", parameters={"lr": lr, "batch_size": batch_size}, force=True
    )
    trial.add_tags(sweep="lr")
    trial.capture_output(20)
    rng = random.Random(batch_size)
    w = b = 0.0
    with trial:
        for step in range(steps):
            with trial.chrono("step"):
                xs = [rng.uniform(-1, 1) for _ in range(batch_size)]
                errors = [(w * x + b) - (3 * x + 1) for x in xs]
                w -= lr * 2 * sum(e * x for e, x in zip(errors, xs, strict=True)) / batch_size
                b -= lr * 2 * sum(errors) / batch_size
            trial.log_metrics(step=step, loss=sum(e * e for e in errors) / batch_size)
            if step % 10 == 9:
                trial.log_metrics(step=step, accuracy=1.0 / (1.0 + abs(w - 3) + abs(b - 1)))
        print(f"lr={lr}: w={w:.3f} b={b:.3f}")
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as config:
            config.write(f"lr: {lr}\nbatch_size: {batch_size}\n")
        trial.log_file(config.name)
        os.unlink(config.name)


def main(trials: int = 4, steps: int = 200) -> None:
    """Run the sweep (no system metrics, so that every count the tests check is exact)."""
    client = TrackClient(flush_interval=0.05, system_metrics_interval=0)
    client.set_project(name="demo")
    client.set_group(name="sweep")
    for i in range(trials):
        train(client, lr=round(0.01 * (i + 1), 3), batch_size=8 * (1 + i % 2), steps=steps)
    client.close()


def run_sweep(uri: str, trials: int = 4, steps: int = 200) -> None:
    """Fill the store at ``uri`` by running this sweep in its own process."""
    env = {**os.environ, "TRACK_URI": uri}
    command = [sys.executable, os.path.abspath(__file__), str(trials), str(steps)]
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=60)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
