"""Track server benchmark: points/s through one server, call latency, server peak memory.

For each security layer (none, AES, TLS) a real ``track serve`` process forwards to a fresh
store; 1 and then C client processes each log N steps x 3 metrics through ``TrackClient`` and
close (every point acknowledged after the store committed it). Points/s is all points divided
by the time from the first client's first log call to the last client's acknowledged close.
Latency is the median of a synchronous ``get_trial`` through the server minus the same call
on the store opened directly. Peak memory is the server's VmHWM after the C-client run.

    python benchmarks/bench_server.py                         # C=16, N=20000, file:// store
    python benchmarks/bench_server.py --store ephemeral  # the server alone, no store cost
    python benchmarks/bench_server.py --store sqlite --steps 5000 --layers AES
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from server.trackserver import make_tls, running_server  # noqa: E402

CHILD = """
import json, sys, time
from track.client import TrackClient
uri, name, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
client = TrackClient(uri)
client.set_project(name="bench")
logger = client.new_trial(name=name, parameters={"name": name})
logger.start()
started = time.time()
for step in range(steps):
    logger.log_metrics(step=step, loss=step * 0.5, acc=step * 0.25, lr=1.0)
logger.finish()
client.close()
print(json.dumps({"start": started, "end": time.time()}))
"""


def throughput(uri: str, clients: int, steps: int) -> float:
    """Points/s of ``clients`` processes logging ``steps`` x 3 metrics each."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, uri, f"c{i}-{time.monotonic_ns()}", str(steps)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(clients)
    ]
    spans = []
    for process in processes:
        out, _ = process.communicate(timeout=600)
        if process.returncode != 0:
            raise RuntimeError(f"client failed ({process.returncode})")
        spans.append(json.loads(out.strip().splitlines()[-1]))
    elapsed = max(s["end"] for s in spans) - min(s["start"] for s in spans)
    return clients * steps * 3 / elapsed


def latency(uri: str, direct: str, calls: int = 500) -> tuple[float, float]:
    """Median get_trial time through the server and directly on the store, in microseconds."""
    from track.persistence import get_protocol
    from track.structure import Trial

    def median(store: object) -> float:
        trial = store.new_trial(Trial(name=f"lat{time.monotonic_ns()}"))
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            store.get_trial(trial)
            times.append(time.perf_counter() - started)
        return statistics.median(times) * 1e6

    remote = get_protocol(uri)
    through = median(remote)
    remote.close()
    return through, median(get_protocol(direct))


def peak_kib(pid: int) -> int:
    """The peak resident memory (VmHWM) of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def store_uri(kind: str, folder: Path) -> str:
    """A fresh store of ``kind`` in ``folder``."""
    uris = {"sqlite": f"sqlite:///{folder / 'bench.db'}", "ephemeral": "ephemeral:"}
    return uris.get(kind, f"file://{folder / 's.json'}")


def main() -> None:
    """Run every layer and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--store", choices=["file", "sqlite", "ephemeral"], default="file")
    parser.add_argument("--layers", default="none,AES,TLS")
    args = parser.parse_args()
    rows = []
    for layer in args.layers.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            extra: tuple[str, ...] = ()
            query = {}
            if layer == "TLS":
                cert, key = make_tls(folder)
                extra, query = ("--tls-cert", str(cert), "--tls-key", str(key)), {"ca": str(cert)}
            store = store_uri(args.store, folder)
            name = None if layer == "none" else layer
            with running_server(folder, store, layer=name, extra=extra) as server:
                uri = server.uri(**query)
                one = throughput(uri, 1, args.steps)
                many = throughput(uri, args.clients, args.steps)
                assert server.process is not None
                peak = peak_kib(server.process.pid)
                through, direct = latency(uri, store)
                server.stop()
            rows.append((layer, one, many, through, direct, peak))
    print(f"\nstore={args.store} clients={args.clients} steps={args.steps} metrics=3")
    print(f"{'layer':<6} {'1 client pts/s':>15} {f'{args.clients} clients pts/s':>17} "
          f"{'get_trial us':>13} {'direct us':>10} {'added us':>9} {'server peak MiB':>16}")  # fmt: skip
    for layer, one, many, through, direct, peak in rows:
        print(f"{layer:<6} {one:>15,.0f} {many:>17,.0f} {through:>13.0f} {direct:>10.0f} "
              f"{through - direct:>9.0f} {peak / 1024:>16.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
