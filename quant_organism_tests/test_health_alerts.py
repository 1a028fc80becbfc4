"""Health score with history (asset and status command), and alerts: an alert log, a webhook with retries
tested against a local HTTP server, and a failing webhook that never fails the run raising the alert."""

from __future__ import annotations

import json
import threading
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer

import dagster as dg
import pandas as pd
import pytest

from quant_organism.operations import health
from quant_organism.operations.alerts import Alert, raise_alert, read_alerts

NOW = datetime(2024, 3, 6, 12, 0, tzinfo=timezone.utc)


class _Hook(BaseHTTPRequestHandler):
    script: list[int] = []
    received: list[dict] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        status = self.script.pop(0) if self.script else 200
        type(self).received.append(body)
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    _Hook.script, _Hook.received = [], []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", _Hook
    server.shutdown()


def test_an_alert_is_logged_and_posted_with_retries_on_429_and_5xx(tmp_path, webhook):
    url, hook = webhook
    hook.script = [503, 429, 200]
    entry = raise_alert(Alert("decay", "ema_1 is decaying", {"strategy": "ema_1"}), tmp_path, url)
    assert entry["webhook"].startswith("delivered (HTTP 200, attempt 3)")
    assert (
        len(hook.received) == 3 and hook.received[-1]["kind"] == "decay" and hook.received[-1]["details"] == {"strategy": "ema_1"}
    )
    [logged] = read_alerts(tmp_path)
    assert logged["message"] == "ema_1 is decaying" and logged["webhook"] == entry["webhook"]


def test_a_failing_webhook_never_fails_the_caller_and_the_alert_is_kept(tmp_path, webhook):
    url, hook = webhook
    hook.script = [500, 500, 500]
    entry = raise_alert(Alert("run_failure", "run x failed"), tmp_path, url)
    assert entry["webhook"] == "failed after 3 attempts: HTTP 500"
    hook.script = [404]
    refused = raise_alert(Alert("retirement", "y retired"), tmp_path, url)
    assert refused["webhook"] == "refused: HTTP 404"  # a 4xx is not retried
    unreachable = raise_alert(Alert("run_failure", "z"), tmp_path, "http://127.0.0.1:9/nothing")
    assert unreachable["webhook"].startswith("failed after 3 attempts: unreachable")
    assert [a["message"] for a in read_alerts(tmp_path)] == ["run x failed", "y retired", "z"]
    with pytest.raises(ValueError, match="unknown alert kind"):
        Alert("gossip", "x")


def test_the_run_failure_sensor_raises_an_alert_to_the_webhook(tmp_path, webhook, monkeypatch):
    from quant_organism.defs.automation.sensors import run_failure_recorder
    from quant_organism.defs.shared.resources import ArtifactsResource

    url, hook = webhook
    monkeypatch.setenv("QUANT_ORGANISM_ALERT_WEBHOOK", url)

    @dg.op
    def boom():
        raise RuntimeError("the market fell over")

    @dg.job
    def fragile():
        boom()

    with dg.instance_for_test() as instance:
        result = fragile.execute_in_process(instance=instance, raise_on_error=False)
        events = result.get_run_failure_event()
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_recorder",
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=events,
            resources={"artifacts": ArtifactsResource(root=str(tmp_path))},
        ).for_run_failure()
        run_failure_recorder(context)
    [alert] = read_alerts(tmp_path)
    assert alert["kind"] == "run_failure" and "the market fell over" in alert["details"]["error"]
    assert hook.received and hook.received[0]["kind"] == "run_failure"


def test_health_scores_components_and_keeps_history(tmp_path):
    fresh = health.freshness({"BTC": date(2024, 3, 5), "ETH": date(2024, 3, 1), "SOL": None}, NOW.date())
    assert [c.score for c in fresh] == [1.0, pytest.approx(1 - 4 / 7, abs=1e-3), 0.0]
    components = fresh + [
        health.last_success("evolution", NOW - timedelta(hours=3), NOW, 7),
        health.last_success("paper", None, NOW, 7, required=False),
        health.store_component(["notes.json: corrupt"], 0, False),
        health.ledger_component(None, []),
        health.breakers_component(None),
    ]
    report = health.combine(components, NOW)
    assert report.status == "degraded" and 0.5 <= report.score < 0.8
    assert health.ray_component("127.0.0.1:1").score == 0.0 and health.ray_component(None) is None
    health.record(report, tmp_path)
    health.record(health.combine(components[:1], NOW), tmp_path)
    assert [h["status"] for h in health.history(tmp_path)] == ["degraded", "ok"]


def test_freshness_of_files_that_stop_is_judged_against_their_own_last_day(tmp_path, monkeypatch):
    """Files of the past: the lake is fresh when it holds what they hold, not stale forever against yesterday;
    behind them, it is behind by the days it lacks."""
    ends = {"BTC": date(2019, 10, 16), "ETH": date(2019, 10, 16)}
    fresh = health.freshness({"BTC": date(2019, 10, 16), "ETH": date(2019, 10, 12)}, NOW.date(), 7, ends)
    assert [c.score for c in fresh] == [1.0, pytest.approx(1 - 4 / 7, abs=1e-3)]
    assert fresh[1].detail == "last passing day 2019-10-12 (4 day(s) behind the source's last day 2019-10-16)"
    assert health.freshness({"BTC": date(2019, 10, 16)}, NOW.date(), 7)[0].score == 0.0  # a source that goes on

    from quant_organism.defs.shared.resources import files_last_days

    bars = pd.DataFrame({"timestamp": pd.date_range("2019-10-01", "2019-10-16 23:00", freq="1h").astype("int64") // 10**6})
    bars = bars.assign(open=1.0, high=1.0, low=1.0, close=1.0, volume=1.0)
    bars.to_csv(tmp_path / "BTC_1h.csv", index=False)
    bars.iloc[:-1].to_csv(tmp_path / "ETH_1h.csv", index=False)  # its last hour missing: 10-15 is its last whole day
    monkeypatch.setenv("QUANT_ORGANISM_SOURCE", "files")
    monkeypatch.setenv("QUANT_ORGANISM_FILES_DIR", str(tmp_path))
    monkeypatch.setenv("QUANT_ORGANISM_COINS", "BTC,ETH")
    assert files_last_days() == {"BTC": date(2019, 10, 16), "ETH": date(2019, 10, 15)}
    monkeypatch.setenv("QUANT_ORGANISM_SOURCE", "synthetic")
    assert files_last_days() is None


def test_the_health_asset_reports_components_and_a_history_plot(data_dir):
    from quant_organism.defs.automation.health_asset import organism_health
    from quant_organism.defs.shared.resources import project_resources

    (data_dir / "strategies").mkdir(parents=True)
    (data_dir / "strategies" / "notes.json").write_text("not a config")
    with dg.instance_for_test() as instance:
        for _ in range(2):
            result = dg.materialize([organism_health], instance=instance, resources=project_resources(data_dir))
    meta = result.asset_materializations_for_node("operations__health")[0].metadata
    assert meta["status"].value in ("failing", "degraded")  # nothing ingested or evolved yet
    table = meta["components"].value
    assert "| store | 0.50 | 1 unreadable file(s) |" in table and "| last_ingest | 0.00 | no successful ingest run |" in table
    assert meta["checks_in_history"].value == 2 and "data:image/png;base64," in meta["history_plot"].value
