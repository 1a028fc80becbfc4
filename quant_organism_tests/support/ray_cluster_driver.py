"""The driver of the Ray cluster test, run in its own process: an evolution on the cluster at QUANT_ORGANISM_RAY_ADDRESS
(the way the population asset passes it), progress events printed one JSON line each, then a summary file.

    python -m quant_organism_tests.support.ray_cluster_driver OUT.json

Each island sleeps `SLOW_S` first (a `batch_hook`), twice that off the head node, so the test has time to kill the
second node while islands run on it.
"""

from __future__ import annotations

import json
import os
import sys
import time

SLOW_S = 4.0


class SlowStart:
    """Batch hook: hold each island a few seconds, and `later_off_head_s` more off the head node, so that the head's
    gang ends first and the test kills the second node while its gang still runs (the two nodes share this machine's
    cores, and which gang ended first was a race: in one CI run both ended together and no island was lost).
    Picklable by value: workers need not import the tests."""

    def __init__(self, seconds: float, later_off_head_s: float = 0.0, head_node: str = "") -> None:
        self.seconds, self.later_off_head_s, self.head_node = seconds, later_off_head_s, head_node

    def __call__(self, batch: int) -> None:
        import ray

        off_head = self.head_node and ray.get_runtime_context().get_node_id() != self.head_node
        time.sleep(self.seconds + (self.later_off_head_s if off_head else 0.0))


def main(out_path: str) -> int:
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray

    from quant_organism.evolution import load_preset, ray_session, run_evolution
    from quant_organism_tests.support.markets import planted_market

    address = os.environ["QUANT_ORGANISM_RAY_ADDRESS"]
    market = planted_market(days=50)
    day = "2024-02-18"
    config = load_preset(
        "test",
        executor="ray",
        ray_address=address,
        total_strategies=36,
        batch_size=6,
        generations=2,
        lookback_days=45,
        min_trades=1,
        batch_timeout_s=240,
        max_retries=2,
        # The test kills a node when the first gang returns, while the other still runs on it: a worker done early
        # taking islands of the other would make both gangs end together (sharing is tested in test_evolution_executors).
        share_islands=False,
    )

    def emit(event: dict) -> None:
        if event["event"] in ("run_started", "batch_finished", "run_finished"):
            print(json.dumps(event, default=str), flush=True)

    with ray_session(None, address) as session:
        session.cloudpickle.register_pickle_by_value(sys.modules[__name__])
        nodes_before = sum(1 for n in ray.nodes() if n["Alive"])
        head = next(n["NodeID"] for n in ray.nodes() if n["Alive"] and "node:__internal_head__" in n["Resources"])
        result = run_evolution(market, config, emit, evolution_date=day, batch_hook=SlowStart(SLOW_S, SLOW_S, head))
        nodes_after = sum(1 for n in ray.nodes() if n["Alive"])
    serial = run_evolution(market, config.model_copy(update={"executor": "serial"}), evolution_date=day)
    summary = {
        "statuses": result.batches["status"].tolist(),
        "errors": [e for e in result.batches["error"].tolist() if e],
        "pids": sorted(set(result.batches["pid"].tolist())),
        "ray_resources": result.ray_resources,
        "nodes_before": nodes_before,
        "nodes_after": nodes_after,
        "evaluations": result.evaluations,
        "same_as_serial": sorted(result.population["genes_hash"]) == sorted(serial.population["genes_hash"]),
    }
    with open(out_path, "w") as handle:
        json.dump(summary, handle, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
