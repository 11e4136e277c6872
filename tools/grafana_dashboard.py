"""Write docs/grafana/artbandit-serve.json: a Grafana dashboard for `artbandit serve`'s /metrics.

Why generated: one list of panels (title, PromQL, unit) is easier to review than 400 lines of
Grafana JSON, and tests/artbandit/serve/dashboard/test_routes.py checks every query names a metric /metrics exposes.
Run `python tools/grafana_dashboard.py` after changing a panel.
"""

from __future__ import annotations

import json
from pathlib import Path

DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
# (title, [(PromQL, legend)], unit, kind)
PANELS = [
    ("Decisions per second", [("sum(rate(artbandit_ranks_total[1m]))", "ranks/s")], "reqps", "timeseries"),
    (
        "Rewards per second",
        [
            ("sum(rate(artbandit_rewards_total[1m]))", "rewards/s"),
            ("sum(rate(artbandit_default_rewards_total[1m]))", "default rewards/s"),
            ("sum(rate(artbandit_not_activated_total[1m]))", "not activated/s"),
        ],
        "reqps",
        "timeseries",
    ),
    (
        "Latency p50 / p99 by route",
        [
            (
                "histogram_quantile(0.5, sum by (le, route) (rate(artbandit_request_seconds_bucket[5m])))",
                "p50 {{route}}",
            ),
            (
                "histogram_quantile(0.99, sum by (le, route) (rate(artbandit_request_seconds_bucket[5m])))",
                "p99 {{route}}",
            ),
        ],
        "s",
        "timeseries",
    ),
    (
        "Errors per second by status",
        [('sum by (status) (rate(artbandit_requests_total{status=~"4..|5.."}[5m]))', "{{status}}")],
        "reqps",
        "timeseries",
    ),
    ("Events waiting for their reward", [("artbandit_events_pending", "pending")], "short", "timeseries"),
    (
        "Pending memory budget used",
        [("artbandit_pending_bytes / artbandit_pending_budget_bytes", "used")],
        "percentunit",
        "gauge",
    ),
    (
        "Journal records since the last checkpoint",
        [("artbandit_journal_seq - artbandit_checkpoint_seq", "records")],
        "short",
        "timeseries",
    ),
    ("Journal size", [("artbandit_journal_bytes", "bytes")], "bytes", "timeseries"),
    ("Events learned", [("artbandit_events_learned", "learned")], "short", "stat"),
    (
        "Model rejected as non-finite (last hour)",
        [("increase(artbandit_model_rejections_total[1h])", "rejections")],
        "short",
        "stat",
    ),
    (
        "Model version and learning mode",
        [("artbandit_model_info", "{{version}} ({{learning_mode}})")],
        "short",
        "table",
    ),
]


def dashboard() -> dict:
    panels = []
    for i, (title, targets, unit, kind) in enumerate(PANELS):
        panels.append(
            {
                "id": i + 1,
                "title": title,
                "type": kind,
                "datasource": DS,
                "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "targets": [
                    {
                        "refId": chr(65 + k),
                        "datasource": DS,
                        "expr": expr,
                        "legendFormat": legend,
                        **({"instant": True, "format": "table"} if kind == "table" else {}),
                    }
                    for k, (expr, legend) in enumerate(targets)
                ],
            }
        )
    return {
        "__inputs": [
            {
                "name": "DS_PROMETHEUS",
                "label": "Prometheus",
                "type": "datasource",
                "pluginId": "prometheus",
                "pluginName": "Prometheus",
            }
        ],
        "title": "artbandit serve",
        "uid": "artbandit-serve",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "tags": ["artbandit"],
        "templating": {"list": []},
        "annotations": {"list": []},
        "panels": panels,
    }


if __name__ == "__main__":
    out = Path(__file__).resolve().parents[1] / "docs" / "grafana" / "artbandit-serve.json"
    out.write_text(json.dumps(dashboard(), indent=2) + "\n", encoding="utf-8")
    print(out)
