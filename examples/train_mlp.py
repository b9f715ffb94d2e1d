"""Train a small numpy MLP on a synthetic two-moons dataset, tracked with track.

    python examples/train_mlp.py --epochs 20 --lr 0.5 --store file://runs.json

Everything is generated in the script (no download); a run takes a couple of seconds on a CPU.
Without ``--store`` the client uses ``TRACK_URI``, ``uri`` in ``track.config``, or
the default store (``track.client.DEFAULT_URI``).
"""

from __future__ import annotations

import argparse

import numpy as np

from track import TrackClient


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Hyperparameters and the store URI from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr", type=float, default=0.5, help="SGD learning rate")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=32, help="units in the hidden layer")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--store", default=None, help="store URI (default: TrackClient's)")
    return parser.parse_args(argv)


def two_moons(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles with Gaussian noise: ``n`` points, labels 0 and 1."""
    angle = rng.uniform(0, np.pi, n)
    label = rng.integers(0, 2, n)
    x = np.where(label == 0, np.cos(angle), 1 - np.cos(angle))
    y = np.where(label == 0, np.sin(angle), 0.5 - np.sin(angle))
    points = np.stack([x, y], axis=1) + rng.normal(0, 0.15, (n, 2))
    return points.astype(np.float64), label.astype(np.float64)


class MLP:
    """One tanh hidden layer and a sigmoid output, trained with binary cross-entropy."""

    def __init__(self, inputs: int, hidden: int, rng: np.random.Generator) -> None:
        self.w1 = rng.normal(0, 1 / np.sqrt(inputs), (inputs, hidden))
        self.b1 = np.zeros(hidden)
        self.w2 = rng.normal(0, 1 / np.sqrt(hidden), hidden)
        self.b2 = 0.0

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Hidden activations and predicted probabilities of class 1."""
        h = np.tanh(x @ self.w1 + self.b1)
        p = 1 / (1 + np.exp(-(h @ self.w2 + self.b2)))
        return h, p

    @staticmethod
    def loss(p: np.ndarray, y: np.ndarray) -> float:
        """Mean binary cross-entropy."""
        p = np.clip(p, 1e-7, 1 - 1e-7)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    def step(self, x: np.ndarray, y: np.ndarray, lr: float) -> float:
        """One SGD step on a batch; returns the batch loss before the update."""
        h, p = self.forward(x)
        grad_out = (p - y) / len(y)
        grad_h = np.outer(grad_out, self.w2) * (1 - h**2)
        self.w2 -= lr * h.T @ grad_out
        self.b2 -= lr * grad_out.sum()
        self.w1 -= lr * x.T @ grad_h
        self.b1 -= lr * grad_h.sum(axis=0)
        return self.loss(p, y)


def main(argv: list[str] | None = None) -> None:
    """Train, logging per-batch loss, per-epoch train/validation metrics and batch time."""
    args = parse_args(argv)
    # where results go is not a hyperparameter: it must not change the trial's identity
    hyperparameters = argparse.Namespace(**{k: v for k, v in vars(args).items() if k != "store"})

    client = TrackClient(args.store)
    client.set_project(name="examples")
    client.set_group(name="mlp_two_moons")
    trial = client.new_trial(arguments=hyperparameters)

    rng = np.random.default_rng(args.seed)
    x, y = two_moons(args.samples, rng)
    split = int(0.8 * len(x))
    x_train, y_train, x_val, y_val = x[:split], y[:split], x[split:], y[split:]
    model = MLP(inputs=2, hidden=args.hidden, rng=rng)

    trial.log_metadata(train_size=len(x_train), val_size=len(x_val), numpy=np.__version__)
    trial.add_tags(model="mlp", data="two_moons")

    with trial:
        for epoch in range(args.epochs):
            order = rng.permutation(len(x_train))
            for start in range(0, len(order), args.batch_size):
                batch = order[start : start + args.batch_size]
                with trial.chrono("batch_time"):
                    batch_loss = model.step(x_train[batch], y_train[batch], args.lr)
                trial.log_metrics(batch_loss=batch_loss)

            train_loss = model.loss(model.forward(x_train)[1], y_train)
            val_p = model.forward(x_val)[1]
            val_loss = model.loss(val_p, y_val)
            val_acc = float(np.mean((val_p > 0.5) == y_val))
            trial.log_metrics(step=epoch, train_loss=train_loss, val_loss=val_loss, val_acc=val_acc)
            print(f"epoch {epoch:3d} train_loss {train_loss:.4f} val_acc {val_acc:.3f}")

    client.report(short=True)
    client.close()


if __name__ == "__main__":
    main()
