"""The executor `auto` picks from the machine: every branch, and the reason it gives."""

from __future__ import annotations

from quant_organism.evolution.evolution_config import load_preset
from quant_organism.evolution.executors.choice import (
    DRIVER_MB,
    RAY_MIN_CPUS,
    choose_executor,
    local_ray_memory_mb,
    machine_memory_mb,
    usable_cpus,
    with_executor_chosen,
)
from quant_organism.evolution.executors.choice import workers as executor_workers


def test_a_configured_cluster_wins_on_any_machine():
    for cpus, memory in ((1, 512.0), (2, None), (64, 256_000.0)):
        choice = choose_executor("10.0.0.5:6379", cpus, memory)
        assert choice.executor == "ray" and "10.0.0.5:6379" in choice.reason


def test_a_small_machine_runs_one_process():
    for cpus in range(1, RAY_MIN_CPUS):
        choice = choose_executor(None, cpus, 128_000.0)
        assert choice.executor == "serial" and f"fewer than {RAY_MIN_CPUS}" in choice.reason


def test_enough_cores_and_memory_start_a_local_ray():
    choice = choose_executor(None, RAY_MIN_CPUS, float(local_ray_memory_mb(RAY_MIN_CPUS) + DRIVER_MB))
    assert choice.executor == "ray" and f"{RAY_MIN_CPUS} CPUs" in choice.reason
    assert choose_executor(None, 16, None).executor == "ray"  # memory unknown: the cores decide


def test_enough_cores_but_too_little_memory_stay_in_one_process():
    short = float(local_ray_memory_mb(16) + DRIVER_MB - 1)
    choice = choose_executor(None, 16, short)
    assert choice.executor == "serial" and "memory" in choice.reason


def test_the_production_preset_asks_the_machine_and_an_override_is_kept():
    full = load_preset("full")
    assert full.executor == "auto"
    resolved, reason = with_executor_chosen(full)
    expected = choose_executor(None, usable_cpus(), machine_memory_mb())
    assert (resolved.executor, reason) == (expected.executor, expected.reason)
    assert executor_workers(resolved) == (1 if expected.executor == "serial" else usable_cpus())
    kept, why = with_executor_chosen(load_preset("full", executor="ray"))
    assert kept.executor == "ray" and "set by the preset or an override" in why
    cluster, why = with_executor_chosen(load_preset("full", ray_address="10.0.0.5:6379"))
    assert cluster.executor == "ray" and "cluster" in why


def test_the_ingest_runs_in_the_runs_own_process_on_a_small_machine(monkeypatch):
    """Ingest workers follow the same line: each imports the definitions, so below 4 CPUs the run ingests itself."""
    from quant_organism import settings
    from quant_organism.evolution.executors import choice as executor_choice

    monkeypatch.delenv("QUANT_ORGANISM_INGEST_WORKERS", raising=False)
    for cpus, workers in ((1, 1), (2, 1), (3, 1), (4, 4), (16, 4)):
        monkeypatch.setattr(executor_choice, "usable_cpus", lambda cpus=cpus: cpus)
        assert settings.ingest_workers() == workers
    monkeypatch.setenv("QUANT_ORGANISM_INGEST_WORKERS", "2")  # the setting still decides when given
    assert settings.ingest_workers() == 2
