"""A local replay of the Fear & Greed API (`GET /fng/?limit=N&format=json`) on 127.0.0.1, in its exact format.

Rows come from the real history CSV (or any date -> value mapping), newest first, `value`,
`value_classification` and `timestamp` (Unix seconds) as strings, `time_until_update` on the newest row;
`limit=N` returns the latest N days up to `today`, `limit=0` all. Faults are scripted per request:
an HTTP status (429, 5xx), `"malformed"` (not JSON), `"no_data"` (JSON without `data`), `"error"`
(`metadata.error` set).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pandas as pd


class FearGreedReplay:
    def __init__(self, rows: pd.DataFrame, today: str) -> None:
        """`rows`: date, value, classification (missing days simply absent)."""
        self.rows = rows.sort_values("date", ascending=False).reset_index(drop=True)
        self.today = pd.Timestamp(today)
        self.script: list[int | str] = []
        self.requests: list[str] = []
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                replay.requests.append(self.path)
                fault = replay.script.pop(0) if replay.script else None
                if isinstance(fault, int):
                    self._send(fault, b'{"error": "scripted"}')
                    return
                url = urlparse(self.path)
                if url.path.rstrip("/") != "/fng":
                    self._send(404, b"not found")
                    return
                limit = int(parse_qs(url.query).get("limit", ["1"])[0])
                if fault == "malformed":
                    self._send(200, b"<html>gateway hiccup</html>")
                    return
                body = replay.payload(limit)
                if fault == "no_data":
                    body = {"name": "Fear and Greed Index", "metadata": {"error": None}}
                if fault == "error":
                    body["metadata"]["error"] = "Rate limit exceeded"
                self._send(200, json.dumps(body).encode())

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def payload(self, limit: int) -> dict:
        visible = self.rows[self.rows["date"] <= self.today]
        if limit > 0:
            visible = visible[visible["date"] > self.today - pd.Timedelta(days=limit)]
        data = [
            {"value": str(int(v)), "value_classification": c, "timestamp": str(int(pd.Timestamp(d).timestamp()))}
            for d, v, c in visible[["date", "value", "classification"]].itertuples(index=False)
        ]
        if data:
            data[0]["time_until_update"] = "3600"
        return {"name": "Fear and Greed Index", "data": data, "metadata": {"error": None}}

    def __enter__(self) -> "FearGreedReplay":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
