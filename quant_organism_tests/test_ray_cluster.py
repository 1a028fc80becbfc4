"""A real Ray cluster (issue 14): `ray start --head` plus a second node joining it, on 127.0.0.1; an evolution
driven through QUANT_ORGANISM_RAY_ADDRESS; the second node killed mid-evolution; the run completes (the lost
islands retried on the surviving node, identical to a serial run) and the teardown leaves no process behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from quant_organism_tests.support.ray_cluster import RAY, LocalRayCluster, ray_env

pytestmark = [
    pytest.mark.skipif(not Path(RAY).exists(), reason="the ray CLI is not installed beside this Python"),
    pytest.mark.serial,  # a `ray start` cluster: a local `ray.init()` in a test running beside it would join it
]


def test_evolution_on_a_two_node_cluster_survives_a_node_killed_mid_run(tmp_path):
    cluster = LocalRayCluster(tmp_path)
    out = tmp_path / "summary.json"
    events: list[dict] = []
    try:
        cluster.start_head()
        cluster.wait_for_cpus(1)
        node2 = cluster.add_node()
        cluster.wait_for_cpus(2)

        env = {**ray_env(), "QUANT_ORGANISM_RAY_ADDRESS": cluster.address}
        driver = subprocess.Popen(
            [sys.executable, "-m", "quant_organism_tests.support.ray_cluster_driver", str(out)],
            stdout=subprocess.PIPE,
            stderr=(tmp_path / "driver.log").open("w"),
            text=True,
            env=env,
            cwd=Path(__file__).resolve().parents[1],
        )
        killed_at = None
        deadline = time.monotonic() + 420
        for line in driver.stdout:
            if not line.startswith("{"):
                continue
            events.append(json.loads(line))
            if killed_at is None and events[-1]["event"] == "batch_finished":
                cluster.kill(node2)  # islands are running on it right now: each sleeps 4 s before evolving
                killed_at = events[-1]["done"]
            assert time.monotonic() < deadline, "the driver is stuck"
        assert driver.wait(timeout=120) == 0, (tmp_path / "driver.log").read_text()[-4000:]
    finally:
        leftovers = cluster.teardown()

    summary = json.loads(out.read_text())
    started = next(e for e in events if e["event"] == "run_started")
    assert started["workers"] == 2  # both nodes' CPUs were used
    assert summary["nodes_before"] == 2 and summary["nodes_after"] == 1
    assert killed_at is not None and killed_at < 6  # killed mid-evolution
    assert summary["statuses"] == ["ok"] * 6, summary  # the lost islands were retried on the surviving node
    assert summary["same_as_serial"]  # and the retried islands give what a serial run gives
    assert leftovers == []  # no Ray process left behind
    stray = subprocess.run(["pgrep", "-f", str(cluster.ray_dir)], capture_output=True, text=True).stdout.split()
    assert stray == [], stray
    assert os.path.exists(RAY)


def test_a_cluster_address_nothing_answers_at_fails_in_seconds_saying_so():
    """ray.init on a dead address retries for about five minutes and ends in a bare SystemExit; the session
    checks the address first. Health reads the same rule."""
    import socket

    from quant_organism.evolution.executors.ray_address import endpoint, unreachable
    from quant_organism.evolution.executors.runners import RayUnreachableError, ray_session
    from quant_organism.operations.health import ray_component

    assert endpoint("10.0.0.5") == ("10.0.0.5", 6379) and endpoint("ray://head") == ("head", 10001)
    assert endpoint("head:7000") == ("head", 7000) and endpoint("auto") is None and endpoint(None) is None
    with socket.socket() as closed:  # a port that was free a moment ago: nothing listens there
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    started = time.perf_counter()
    with pytest.raises(RayUnreachableError, match=rf"Ray cluster at 127.0.0.1:{port} does not answer .*refused"):
        with ray_session(address=f"127.0.0.1:{port}"):
            pass
    assert time.perf_counter() - started < 10
    assert "refused" in unreachable(f"127.0.0.1:{port}") and ray_component(f"127.0.0.1:{port}").score == 0.0
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        assert unreachable(f"127.0.0.1:{listening.getsockname()[1]}") is None
