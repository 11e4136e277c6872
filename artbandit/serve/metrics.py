"""Counters and a latency histogram for GET /metrics (Prometheus text format 0.0.4), no dependency."""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from typing import Any

BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.hist: dict[str, list[int]] = {}
        self.sums: dict[str, float] = defaultdict(float)

    def observe(self, route: str, status: int, seconds: float) -> None:
        counts = self.hist.get(route)
        if counts is None:
            if len(self.hist) >= 200:  # unknown paths probed at random: do not grow without bound
                route = "other"
            counts = self.hist.setdefault(route, [0] * (len(BUCKETS) + 1))
        self.requests[(route, status)] += 1
        counts[bisect_left(BUCKETS, seconds)] += 1
        self.sums[route] += seconds

    def to_json(self) -> dict[str, Any]:
        """The counters as JSON, for a ranker's published status (`--workers`). Read from another
        thread than the one that counts: a new route added meanwhile makes the copy start again."""
        for _ in range(10):
            try:
                return {
                    "requests": [[route, code, n] for (route, code), n in list(self.requests.items())],
                    "hist": {route: list(counts) for route, counts in list(self.hist.items())},
                    "sums": dict(list(self.sums.items())),
                }
            except RuntimeError:  # dictionary changed size during iteration
                continue
        return {"requests": [], "hist": {}, "sums": {}}

    @staticmethod
    def _request_lines(data: dict[str, Any], worker: str | None) -> tuple[list[str], list[str]]:
        """The request counter and latency histogram lines of one process's `to_json` (labelled with
        its worker under --workers)."""
        extra = f',worker="{_escape(worker)}"' if worker is not None else ""
        counts = [
            f'artbandit_requests_total{{route="{_escape(route)}",status="{code}"{extra}}} {n}'
            for route, code, n in sorted(data["requests"], key=lambda r: (r[0], r[1]))
        ]
        hist = []
        for route, buckets in sorted(data["hist"].items()):
            label = _escape(route)
            acc = 0
            for bound, n in zip(BUCKETS, buckets):
                acc += n
                hist.append(f'artbandit_request_seconds_bucket{{route="{label}",le="{bound}"{extra}}} {acc}')
            acc += buckets[-1]
            hist.append(f'artbandit_request_seconds_bucket{{route="{label}",le="+Inf"{extra}}} {acc}')
            hist.append(f'artbandit_request_seconds_sum{{route="{label}"{extra}}} {data["sums"].get(route, 0.0):.6f}')
            hist.append(f'artbandit_request_seconds_count{{route="{label}"{extra}}} {acc}')
        return counts, hist

    def render(self, status: dict[str, Any]) -> str:
        lines = [
            "# HELP artbandit_requests_total HTTP requests by route and status.",
            "# TYPE artbandit_requests_total counter",
        ]
        # under --workers a scrape reaches one ranker: every ranker's series, labelled by worker (its
        # own live, the others' as last published, at most STATUS_EVERY_S old), so that each series
        # only ever grows and `sum by (route)` is the service's
        per_process = [(None, self.to_json())]
        me = status.get("worker")
        if me is not None:
            per_process = [
                (name, self.to_json() if name == me else w.get("metrics"))
                for name, w in sorted((status.get("workers") or {}).items())
                if name.startswith("ranker") and (name == me or w.get("metrics"))
            ]
        hists: list[str] = []
        for worker, data in per_process:
            counts, hist = self._request_lines(data, worker)
            lines += counts
            hists += hist
        lines += ["# HELP artbandit_request_seconds Request latency.", "# TYPE artbandit_request_seconds histogram"]
        lines += hists
        gauges = {
            "events_pending": ("gauge", status["eventsPending"]),
            "pending_bytes": ("gauge", status["pendingBytes"]),
            "pending_budget_bytes": ("gauge", status["pendingBudgetBytes"]),
            "ranks_total": ("counter", status["ranks"]),
            "rewards_total": ("counter", status["rewards"]),
            "default_rewards_total": ("counter", status["default_rewards"]),
            "not_activated_total": ("counter", status["not_activated"]),
            "learned_total": ("counter", status["learned"]),
            "events_learned": ("gauge", status["eventsLearned"]),
            "journal_seq": ("gauge", status["journalSeq"]),
            "checkpoint_seq": ("gauge", status["checkpointSeq"]),
            "model_rejections_total": ("counter", status["modelRejections"]),
            "journal_bytes": ("gauge", status["journalBytes"]),
        }
        for name, value in status.get("gauges", {}).items():  # a ranker's snapshot and learner lag
            gauges[name] = ("gauge", value)
        for name, (kind, value) in gauges.items():
            lines += [f"# TYPE artbandit_{name} {kind}", f"artbandit_{name} {value}"]
        workers = status.get("workers") or {}
        if workers:  # --workers: every ranker's snapshot (a Prometheus scrape reaches one ranker)
            lines.append("# TYPE artbandit_worker_snapshot_version gauge")
            for name, w in sorted(workers.items()):
                version = w.get("snapshotVersion")
                if version is not None:
                    lines.append(f'artbandit_worker_snapshot_version{{worker="{_escape(name)}"}} {version}')
        lines += [
            "# TYPE artbandit_model_info gauge",
            f'artbandit_model_info{{version="{_escape(status["modelVersion"])}",'
            f'learning_mode="{status["learningMode"]}"}} 1',
        ]
        return "\n".join(lines) + "\n"
