"""Helpers for the end-to-end UI tests: start the real Dagster UI, launch runs over GraphQL, read results.

The UI is started exactly as users start it (`python -m quant_organism ui`, i.e. `dg dev`: webserver,
daemon and code server), because runs submitted over GraphQL are queued and only the daemon dequeues
them. Dagster's dev server started from a non-interactive shell ignores SIGTERM/SIGINT, so it runs in its own
process group and is stopped by signalling the whole group, with SIGKILL as the last resort.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")  # Debian's, installed by `make test`; headless, no sandbox (the CI container)
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCATION = "quant_organism"
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}

# Market data for the UI tests is ingested in a child process with the same environment as the UI,
# so the partitions (which read QUANT_ORGANISM_COINS at import) and DAGSTER_HOME match the server's.
INGEST_SCRIPT = """
import sys
from quant_organism.cli import launch as pipeline
instance = pipeline.persistent_instance()
summaries = pipeline.ingest(instance, sys.argv[1], sys.argv[2])
failed = [s.coin for s in summaries if not s.success]
if not failed and not pipeline.regimes(instance, sys.argv[1], sys.argv[2]).success:
    failed = ["regimes"]
print("ingested", [(s.coin, s.success, s.run_id) for s in summaries], flush=True)
sys.exit(1 if failed else 0)
"""


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def project_env(data_dir: Path, coins: str) -> dict[str, str]:
    """This process's environment with the project's variables replaced: one data root, a few coins,
    the synthetic market, and DAGSTER_HOME under the data root (as `prepare_dagster_home` sets it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANT_ORGANISM_") and k != "DAGSTER_HOME"}
    env.update(
        QUANT_ORGANISM_DATA_DIR=str(data_dir),
        QUANT_ORGANISM_COINS=coins,
        QUANT_ORGANISM_SOURCE="synthetic",
        QUANT_ORGANISM_AUTOMATION="off",  # the daemon must not start nightly runs beside the test's own
        DAGSTER_HOME=str(data_dir / "dagster_home"),
        RAY_AUTH_MODE="disabled",
        PYTHONUNBUFFERED="1",
    )
    return env


def tail(path: Path, chars: int = 4000) -> str:
    """The end of a log file, for failure messages."""
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError as exc:
        return f"<{path} unreadable: {exc}>"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def stop_group(process: subprocess.Popen, timeout: float = 20.0) -> None:
    """Stop a process started with start_new_session=True and all its children: SIGTERM to the group,
    then SIGKILL to whatever is left of it after `timeout`."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (process.poll() is None or _group_alive(process.pid)):
        time.sleep(0.2)
    if _group_alive(process.pid):  # children (webserver, daemon, code servers) may outlive the leader
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=timeout)


def start_ingest(env: dict[str, str], first: str, last: str, log_path: Path) -> subprocess.Popen:
    """Ingest [first, last] for the env's coins into the env's data root, in a child process group."""
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-c", INGEST_SCRIPT, first, last],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@dataclass
class DagsterUI:
    """A running `python -m quant_organism ui` (dg dev) on 127.0.0.1:port."""

    process: subprocess.Popen
    port: int
    log_path: Path
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def graphql(self, query: str, variables: dict[str, Any] | None = None, timeout: float = 60.0) -> dict[str, Any]:
        """POST a GraphQL query; raises with the server's errors when the query itself fails."""
        response = requests.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=timeout)
        response.raise_for_status()
        payload = response.json()
        if payload.get("errors"):
            raise RuntimeError(f"GraphQL errors: {payload['errors']}")
        return payload["data"]

    def stop(self) -> None:
        stop_group(self.process)


def _default_sigint() -> None:
    # the dev server maps SIGTERM onto its SIGINT handler; a process started from a background job of a
    # non-interactive shell inherits SIGINT ignored, which would make it ignore SIGTERM too.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_ui(env: dict[str, str], log_path: Path, port: int | None = None) -> DagsterUI:
    """Start the project's UI command in its own process group; does not wait for it (see wait_ready)."""
    port = port or free_port()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "quant_organism", "ui", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_default_sigint,
        )
    return DagsterUI(process, port, log_path, {"started": time.perf_counter()})


WORKSPACE_QUERY = """
{ workspaceOrError { __typename
    ... on Workspace { locationEntries { name loadStatus
        locationOrLoadError { __typename ... on PythonError { message stack } } } }
    ... on PythonError { message } } }
"""


def wait_ready(ui: DagsterUI, timeout: float = 240.0) -> None:
    """Block until the webserver answers and the code location is loaded; fail with the log otherwise."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if ui.process.poll() is not None:
            raise RuntimeError(f"the UI exited with {ui.process.returncode}:\n{tail(ui.log_path)}")
        try:
            data = ui.graphql(WORKSPACE_QUERY, timeout=10)
        except (requests.RequestException, RuntimeError) as exc:
            last = repr(exc)
            time.sleep(1)
            continue
        entries = {e["name"]: e for e in data["workspaceOrError"].get("locationEntries", [])}
        entry = entries.get(LOCATION)
        last = repr(entry or data)
        if entry and entry["loadStatus"] == "LOADED":
            loaded = entry["locationOrLoadError"] or {}
            if loaded.get("__typename") != "RepositoryLocation":
                raise RuntimeError(f"code location {LOCATION} failed to load: {loaded}")
            ui.timings["ready_s"] = time.perf_counter() - ui.timings["started"]
            return
        time.sleep(1)
    raise TimeoutError(f"UI not ready after {timeout:.0f}s (last: {last[:500]}):\n{tail(ui.log_path)}")


RUN_QUERY = """
query Run($runId: ID!, $after: String) {
  runOrError(runId: $runId) {
    __typename
    ... on Run {
      status
      stepStats { stepKey status startTime endTime }
      eventConnection(afterCursor: $after) {
        cursor hasMore
        events {
          __typename
          ... on MessageEvent { message level stepKey }
          ... on ErrorEvent { error { message stack cause { message stack } } }
          ... on MaterializationEvent {
            assetKey { path } partition
            metadataEntries { label ... on IntMetadataEntry { intValue } ... on TextMetadataEntry { text } }
          }
          ... on AssetCheckEvaluationEvent { evaluation { checkName success } }
        }
      }
    }
    ... on RunNotFoundError { message }
    ... on PythonError { message }
  }
}
"""


@dataclass
class RunRecord:
    """What a finished run did, as the UI's GraphQL API reports it."""

    run_id: str
    status: str
    wall_s: float
    steps: dict[str, str]
    events: list[dict[str, Any]]

    def materializations(self, path: list[str]) -> list[dict[str, Any]]:
        return [e for e in self.events if e["__typename"] == "MaterializationEvent" and e["assetKey"]["path"] == path]

    def metadata(self, path: list[str]) -> dict[str, Any]:
        """The metadata of the run's (last) materialisation of one asset: label -> int or text."""
        found = self.materializations(path)
        if not found:
            return {}
        return {m["label"]: m.get("intValue", m.get("text")) for m in found[-1]["metadataEntries"]}

    def checks(self) -> dict[str, bool]:
        return {
            e["evaluation"]["checkName"]: e["evaluation"]["success"]
            for e in self.events
            if e["__typename"] == "AssetCheckEvaluationEvent"
        }

    def diagnosis(self, limit: int = 8000) -> str:
        """Step statuses, every error and warning message, and the first error's stack: why a run failed."""
        lines = [f"run {self.run_id}: {self.status}; steps {self.steps}"]
        stack = ""
        for event in self.events:
            error = event.get("error")
            if error:
                cause = error.get("cause")
                lines.append(
                    f"[{event['__typename']} {event.get('stepKey')}] {error['message'].strip()}"
                    + (f" (caused by: {cause['message'].strip()})" if cause else "")
                )
                stack = stack or "".join(error["stack"]) + ("".join(cause["stack"]) if cause else "")
            elif event.get("level") in ("ERROR", "CRITICAL", "WARNING"):
                lines.append(f"[{event['level']} {event.get('stepKey')}] {event.get('message')}")
        return ("\n".join(lines) + (f"\nfirst error's stack:\n{stack}" if stack else ""))[:limit]


def read_run(ui: DagsterUI, run_id: str) -> tuple[str, list[dict[str, Any]], dict[str, str]]:
    """(status, every event, step statuses) of a run, paging through its event log."""
    events: list[dict[str, Any]] = []
    after = None
    while True:
        data = ui.graphql(RUN_QUERY, {"runId": run_id, "after": after})["runOrError"]
        if data["__typename"] != "Run":
            raise RuntimeError(f"run {run_id}: {data}")
        connection = data["eventConnection"]
        events.extend(connection["events"])
        after = connection["cursor"]
        if not connection["hasMore"]:
            steps = {s["stepKey"]: s["status"] for s in data["stepStats"]}
            return data["status"], events, steps


def launch_and_wait(
    ui: DagsterUI, job: str, run_config: dict[str, Any], tags: dict[str, str], timeout: float = 300.0
) -> RunRecord:
    """Submit a job through the GraphQL client (as the launchpad does) and wait for it to finish."""
    from dagster_graphql import DagsterGraphQLClient

    client = DagsterGraphQLClient("127.0.0.1", port_number=ui.port)
    started = time.perf_counter()
    run_id = client.submit_job_execution(
        job, repository_location_name=LOCATION, repository_name="__repository__", run_config=run_config, tags=tags
    )
    deadline = time.monotonic() + timeout
    status = client.get_run_status(run_id).value
    while status not in TERMINAL:
        if time.monotonic() > deadline:
            _, events, steps = read_run(ui, run_id)
            record = RunRecord(run_id, status, time.perf_counter() - started, steps, events)
            raise TimeoutError(
                f"run {run_id} of {job} still {status} after {timeout:.0f}s\n{record.diagnosis()}\n"
                f"UI log:\n{tail(ui.log_path, 2000)}"
            )
        time.sleep(1)
        status = client.get_run_status(run_id).value
    wall = time.perf_counter() - started
    status, events, steps = read_run(ui, run_id)
    return RunRecord(run_id, status, wall, steps, events)


@contextmanager
def serving_after_ingest(env: dict[str, str], first: str, last: str, root: Path, timeout: float = 900.0):
    """The UI on the env's data root with [first, last] ingested: yields (ui, ingest seconds).

    The instance's dagster.yaml and storages are created once here first: two processes creating a new
    SQLite instance at the same moment can both stamp its schema (alembic: "more than one head"). Then
    the ingest and the UI start side by side, and the UI is stopped on exit whatever happened.
    """
    import dagster as dg
    import pytest

    from quant_organism.cli.launch import prepare_dagster_home

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QUANT_ORGANISM_DATA_DIR", env["QUANT_ORGANISM_DATA_DIR"])
        patch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])  # prepare_dagster_home exports it: undone on exit
        assert prepare_dagster_home() == env["DAGSTER_HOME"]
        with dg.DagsterInstance.get():
            pass
    # The partitions end where the lake does: fixed to the ingest's last day, so the UI's code server, which
    # loads beside the ingest, has the same ones whatever the lake holds when it loads.
    env.setdefault("QUANT_ORGANISM_END_DATE", last)
    started = time.perf_counter()
    ingest = start_ingest(env, first, last, root / "ingest.log")
    server = start_ui(env, root / "ui.log")
    try:
        try:
            code = ingest.wait(timeout=timeout)
        except Exception:
            stop_group(ingest)
            raise
        assert code == 0, f"ingest {first}..{last} failed ({code}):\n{tail(root / 'ingest.log')}"
        ingest_s = time.perf_counter() - started
        wait_ready(server)
        yield server, ingest_s
    finally:
        stopping = time.perf_counter()
        server.stop()
        print(f"\nUI stopped in {time.perf_counter() - stopping:.1f}s (exit code {server.process.returncode})")
