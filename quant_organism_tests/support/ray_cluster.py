"""A real multi-node Ray cluster on this machine, started the way operators start one.

`ray start --head --block` and `ray start --address=... --block` (a second node joining it), each in its own
process group so that a node can be killed as a machine dies (SIGKILL to its raylet, its agents and its
workers) and the whole cluster torn down without `ray stop` touching any other Ray on the machine. Every
process a node spawned is tracked (Ray workers start their own sessions, so process groups alone miss them).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ray_env() -> dict[str, str]:
    return {
        **os.environ,
        "RAY_AUTH_MODE": "disabled",
        "RAY_USAGE_STATS_ENABLED": "0",
        # node deaths are noticed within seconds (defaults: 3 s x 5 checks)
        "RAY_health_check_period_ms": "1000",
        "RAY_health_check_failure_threshold": "3",
    }


@dataclass
class Node:
    name: str
    process: subprocess.Popen
    log: Path
    seen: set[int] = field(default_factory=set)

    def track(self) -> set[int]:
        """Every live process of this node (its `ray start`, raylet, agents, workers), remembered."""
        try:
            root = psutil.Process(self.process.pid)
            self.seen |= {root.pid, *(c.pid for c in root.children(recursive=True))}
        except psutil.NoSuchProcess:
            pass
        return self.seen


class LocalRayCluster:
    def __init__(self, workdir: Path, cpus_per_node: int = 1) -> None:
        self.workdir = Path(workdir)
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.cpus = cpus_per_node
        self.nodes: list[Node] = []
        # Ray's sockets live under its temp dir, and a Unix socket path must stay under 108 bytes
        self.ray_dir = Path(tempfile.mkdtemp(prefix="rc", dir="/tmp"))

    def _start(self, name: str, args: list[str]) -> Node:
        log = self.workdir / f"{name}.log"
        common = [
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--num-cpus={self.cpus}",
            "--object-store-memory=100000000",
            "--disable-usage-stats",
        ]
        process = subprocess.Popen(
            [RAY, "start", *args, *common], stdout=log.open("w"), stderr=subprocess.STDOUT, env=ray_env(), start_new_session=True
        )
        node = Node(name, process, log)
        self.nodes.append(node)
        return node

    def start_head(self) -> Node:
        return self._start(
            "head",
            [
                "--head",
                f"--port={self.port}",
                "--include-dashboard=false",
                f"--temp-dir={self.ray_dir}",
                f"--ray-client-server-port={free_port()}",
            ],
        )

    def add_node(self, name: str = "node2") -> Node:
        return self._start(name, [f"--address={self.address}"])

    def wait_for_cpus(self, cpus: int, timeout: float = 120.0) -> None:
        """Until the cluster reports `cpus` CPUs (asked through the `ray` CLI, not a driver in this process)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node in self.nodes:
                if node.process.poll() is not None:
                    raise RuntimeError(f"{node.name} exited ({node.process.returncode}):\n{node.log.read_text()[-3000:]}")
            done = subprocess.run([RAY, "status", f"--address={self.address}"], capture_output=True, text=True, env=ray_env())
            if done.returncode == 0 and f"/{float(cpus)} CPU" in done.stdout:
                return
            time.sleep(1.0)
        raise TimeoutError(f"cluster at {self.address} never reached {cpus} CPUs")

    def kill(self, node: Node) -> None:
        """The node dies at once, as a machine does: SIGKILL to every process it runs."""
        for pid in node.track():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        node.process.wait(timeout=30)

    def teardown(self, grace_s: float = 10.0) -> list[int]:
        """Stop every node (SIGTERM, then SIGKILL after `grace_s`); returns the pids still alive (should be [])."""
        tracked: set[int] = set()
        for node in self.nodes:
            tracked |= node.track()
            try:
                os.killpg(node.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and _alive(tracked):
            for node in self.nodes:
                node.process.poll()
            time.sleep(0.5)
        for pid in _alive(tracked):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for node in self.nodes:
            try:
                node.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        time.sleep(1.0)
        shutil.rmtree(self.ray_dir, ignore_errors=True)
        return _alive(tracked)


def _alive(pids: set[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return sorted(out)
