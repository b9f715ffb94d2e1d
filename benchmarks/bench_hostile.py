"""Hostile-load benchmark: 16 real clients log while other clients abuse the server.

Three runs, each against a fresh ``track serve`` (AES layer, a users file, a file:// store):

1. **guessing**: one address (127.0.0.2) guesses passwords with 16 threads for G seconds;
   guesses/s counts the passwords the server actually checked (its "login failed" lines).
2. **quiet**: 16 client processes on 127.0.0.1 each log N steps x 3 metrics through
   ``TrackClient``; they log in, then start logging together (points/s from the first log
   call to the last acknowledged close; the slowest login is reported apart).
3. **abused**: the same 16 clients while abuser threads, for the whole run, keep ~300 idle
   connections and 16 connections stalled after the handshake open and send garbage hellos,
   all from the clients' own address (127.0.0.1; ``--flood-elsewhere`` adds a run with these
   floods from 127.0.0.4); guess passwords with 8 threads from 127.0.0.2; and, logged in as a
   user of their own from 127.0.0.3, send 16 MiB frames of empty arrays (1.2 GiB each if
   decoded) on 4 connections. The abuser runs on the same 2 cores as the server and clients.

It prints the clients' points/s, the slowest login, the server's peak memory (VmHWM), the CPU
time of the server and of the abuser, and what the abuser achieved (from the server's log).
About 2 minutes on 2 cores with the defaults.

    python benchmarks/bench_hostile.py                 # N=20000 steps, G=20 s
    python benchmarks/bench_hostile.py --steps 5000 --guess-seconds 10
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "server"))

from trackserver import PASSWORD, USER, running_server  # noqa: E402

from track.server import crypto, wire  # noqa: E402

CLIENTS = 16
ABUSER = "mallory"
CHILD = """
import json, sys, time
begun = time.time()
from track.client import TrackClient
uri, name, steps, start_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
client = TrackClient(uri)
client.set_project(name="bench")
logger = client.new_trial(name=name, parameters={"name": name})
logger.start()
login = time.time() - begun
time.sleep(max(0.0, start_at - time.time()))
started = time.time()
for step in range(steps):
    logger.log_metrics(step=step, loss=step * 0.5, acc=step * 0.25, lr=1.0)
logger.finish()
client.close()
print(json.dumps({"login": login, "start": started, "end": time.time()}))
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_mib(pid: int) -> float:
    """The peak resident memory (VmHWM) of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def log_points(uri: str, steps: int, head_start: float) -> tuple[float, float]:
    """Points/s of CLIENTS processes logging ``steps`` x 3 metrics each, and the slowest login.

    The clients log in, then start logging together ``head_start`` seconds after launch (or
    as soon as they are in, if that takes longer), so points/s measures the logging itself.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACK_")}
    start_at = time.time() + head_start
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, uri, f"c{i}", str(steps), str(start_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        for i in range(CLIENTS)
    ]
    spans = []
    for process in processes:
        out, _ = process.communicate(timeout=600)
        if process.returncode != 0:
            raise RuntimeError(f"a logging client failed ({process.returncode})")
        spans.append(json.loads(out.strip().splitlines()[-1]))
    elapsed = max(s["end"] for s in spans) - min(s["start"] for s in spans)
    return CLIENTS * steps * 3 / elapsed, max(s["login"] for s in spans)


# ---- the abuser -------------------------------------------------------------------------


def _connect(port: int, source: str, timeout: float = 10.0) -> socket.socket:
    return socket.create_connection(
        ("127.0.0.1", port), timeout=timeout, source_address=(source, 0)
    )


def _greet(port: int, source: str) -> tuple[socket.socket, object]:
    sock = _connect(port, source)
    private, extra = crypto.client_start()
    sock.sendall(wire.frame(wire.encode({"track": wire.VERSION, "layer": "AES", **extra})))
    reply = wire.decode(wire.recv_frame(sock, 1 << 20))
    if "error" in reply:
        sock.close()
        raise ConnectionError(reply["error"])
    channel, _ = crypto.client_finish(private, reply, None)
    return sock, channel


def _login(port: int, source: str, user: str, password: str) -> tuple[socket.socket, object, dict]:
    sock, channel = _greet(port, source)
    message = {"user": user, "password": password, "session": f"abuse{time.monotonic_ns()}"}
    sock.sendall(wire.frame(channel.seal(wire.encode(message))))
    return sock, channel, wire.decode(channel.open(wire.recv_frame(sock, 1 << 20)))


class Abuser:
    """Threads that abuse a server until stopped; each counts what it did."""

    def __init__(self, port: int, flood_from: str = "127.0.0.1") -> None:
        self.port, self.flood_from = port, flood_from
        self.stop = threading.Event()
        self.counts = {"idle opened": 0, "stalled": 0, "garbage": 0, "guesses": 0, "frames": 0}
        self._lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def _count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    def start(self, idle: bool, stall: bool, garbage: bool, guessers: int, framers: int) -> None:
        """Start the chosen kinds of abuse."""
        jobs = []
        if idle:
            jobs.append(self._idle)
        if stall:
            jobs.append(self._stall)
        if garbage:
            jobs.append(self._garbage)
        jobs += [self._guess] * guessers + [self._frames] * framers
        self.threads = [threading.Thread(target=job, daemon=True) for job in jobs]
        for thread in self.threads:
            thread.start()

    def finish(self) -> dict[str, int]:
        """Stop every thread and return the counts."""
        self.stop.set()
        for thread in self.threads:
            thread.join(60)
        return dict(self.counts)

    def _idle(self) -> None:
        """Keep ~300 connections open that never send a byte."""
        held: list[socket.socket] = []
        while not self.stop.is_set():
            held = [s for s in held if _still_open(s)]
            while len(held) < 300 and not self.stop.is_set():
                try:
                    held.append(_connect(self.port, self.flood_from))
                    self._count("idle opened")
                except OSError:
                    break
            time.sleep(0.05)
        for sock in held:
            sock.close()

    def _stall(self) -> None:
        """Keep 16 connections stalled after the handshake, never logging in."""
        held: list[socket.socket] = []
        while not self.stop.is_set():
            held = [s for s in held if _still_open(s)]
            while len(held) < 16 and not self.stop.is_set():
                try:
                    held.append(_greet(self.port, self.flood_from)[0])
                    self._count("stalled")
                except (OSError, wire.FrameError):
                    break
            time.sleep(0.05)
        for sock in held:
            sock.close()

    def _garbage(self) -> None:
        """Send random bytes as a hello, over and over."""
        while not self.stop.is_set():
            try:
                sock = _connect(self.port, self.flood_from)
                sock.sendall(b"\x00\x00\x00\x40" + os.urandom(64))
                sock.close()
                self._count("garbage")
            except OSError:
                pass
            time.sleep(0.01)

    def _guess(self) -> None:
        """Guess the user's password from 127.0.0.2, hanging up on a slow answer.

        A right password is answered as soon as scrypt is done, so waiting longer than that
        (1 s here) for an answer only lets a server that delays its refusals slow the attacker.
        """
        while not self.stop.is_set():
            self._count("guesses")
            try:
                sock, channel = _greet(self.port, "127.0.0.2")
                message = {"user": USER, "password": f"guess{time.time_ns()}", "session": "g"}
                sock.sendall(wire.frame(channel.seal(wire.encode(message))))
                sock.settimeout(1.0)
                try:
                    wire.recv_frame(sock, 1 << 20)
                finally:
                    sock.close()
            except (OSError, wire.FrameError, ConnectionError):
                self.stop.wait(0.01)

    def _frames(self) -> None:
        """Logged in as a user of its own (127.0.0.3), send 16 MiB frames of empty arrays."""
        count = wire.DEFAULT_MAX_FRAME - 16 - 5  # the AES tag takes 16 bytes of the frame
        payload = b"\xdd" + count.to_bytes(4, "big") + b"\x90" * count
        while not self.stop.is_set():
            try:
                sock, channel, reply = _login(self.port, "127.0.0.3", ABUSER, PASSWORD)
                if reply != {"ok": True}:
                    sock.close()
                    self.stop.wait(0.5)
                    continue
                sock.settimeout(120)
                sock.sendall(wire.frame(channel.seal(payload)))
                self._count("frames")
                while sock.recv(65536):
                    pass
                sock.close()
            except (OSError, wire.FrameError, ConnectionError):
                self.stop.wait(0.1)


def _still_open(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.setblocking(True)


# ---- runs ---------------------------------------------------------------------------------


def server_counts(log: str) -> dict[str, int]:
    """What the server's log says it did with the abuse."""
    return {
        "evicted": log.count("dropped: evicted"),
        "no login in time": log.count("dropped: no login within"),
        "guesses checked": len(re.findall(r"login failed for user 'user'", log)),
        "guesses refused unchecked": log.count("in its penalty period"),
        "hostile frames refused": log.count("holds more arrays, maps and track objects"),
    }


def logging_run(steps: int, flood_from: str | None) -> dict:
    """One run of the 16 clients, without the abuser or with its floods from ``flood_from``."""
    abused = flood_from is not None
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        users = {USER: PASSWORD, ABUSER: PASSWORD}
        with running_server(folder, f"file://{folder / 's.json'}", users=users) as server:
            assert server.process is not None
            abuser = Abuser(server.port, flood_from or "127.0.0.1")
            abuser_cpu = time.process_time()
            if abused:
                abuser.start(idle=True, stall=True, garbage=True, guessers=8, framers=4)
                time.sleep(3)  # let the floods build up before the clients arrive
            points, login = log_points(server.uri(), steps, head_start=10.0)
            counts = abuser.finish() if abused else {}
            abuser_cpu = time.process_time() - abuser_cpu if abused else 0.0
            peak = peak_mib(server.process.pid)
            cpu = cpu_seconds(server.process.pid)
            alive = server.process.poll() is None
            log = server.log()
        return {
            "points/s": points,
            "login s": login,
            "peak MiB": peak,
            "server CPU s": cpu,
            "abuser CPU s": abuser_cpu,
            "alive": alive,
            "abuser": counts,
            "server": server_counts(log) if abused else {},
        }


def guessing_run(seconds: float, threads: int) -> dict:
    """Guesses/s one address reaches with ``threads`` parallel guessers."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with running_server(folder, f"file://{folder / 's.json'}") as server:
            abuser = Abuser(server.port)
            started = time.monotonic()
            abuser.start(idle=False, stall=False, garbage=False, guessers=threads, framers=0)
            time.sleep(seconds)
            counts = abuser.finish()
            elapsed = time.monotonic() - started
            time.sleep(0.5)
            checked = server_counts(server.log())["guesses checked"]
    return {
        "attempts": counts["guesses"],
        "checked": checked,
        "seconds": elapsed,
        "guesses/s": checked / elapsed,
    }


def main() -> None:
    """Run the three runs and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--guess-seconds", type=float, default=20.0)
    parser.add_argument("--guess-threads", type=int, default=16)
    parser.add_argument("--guessing-only", action="store_true", help="only the guessing run")
    parser.add_argument(
        "--flood-elsewhere", action="store_true", help="also flood from another address"
    )
    args = parser.parse_args()
    guessing = guessing_run(args.guess_seconds, args.guess_threads)
    report = (
        f"\nguessing from one address, {args.guess_threads} threads, "
        f"{guessing['seconds']:.0f} s: {guessing['attempts']} attempts, "
        f"{guessing['checked']} passwords checked = {guessing['guesses/s']:.2f} guesses/s"
    )
    if args.guessing_only:
        print(report)
        return
    runs = {"quiet": logging_run(args.steps, None)}
    if args.flood_elsewhere:
        runs["abused, floods from 127.0.0.4"] = logging_run(args.steps, "127.0.0.4")
    runs["abused, floods from the clients' address"] = logging_run(args.steps, "127.0.0.1")
    print(f"\n{CLIENTS} clients x {args.steps} steps x 3 metrics, AES, file:// store")
    print(f"{'run':<42} {'clients pts/s':>14} {'slowest login s':>16} {'server peak MiB':>16} "
          f"{'server CPU s':>13} {'abuser CPU s':>13} {'server alive':>13}")  # fmt: skip
    for name, run in runs.items():
        print(f"{name:<42} {run['points/s']:>14,.0f} {run['login s']:>16.1f} "
              f"{run['peak MiB']:>16.0f} {run['server CPU s']:>13.1f} "
              f"{run['abuser CPU s']:>13.1f} {run['alive']!s:>13}")  # fmt: skip
    for name, run in runs.items():
        if run["abuser"]:
            print(f"\n{name}")
            print("  abuser sent:", ", ".join(f"{k} {v}" for k, v in run["abuser"].items()))
            print("  server did:", ", ".join(f"{k} {v}" for k, v in run["server"].items()))
    print(report)


if __name__ == "__main__":
    main()
