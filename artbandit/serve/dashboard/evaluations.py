"""Offline evaluations inside the service: Personalizer's `/evaluations` and feature importances,
backed by `artbandit evaluate` (simulations.ope.evaluate) over the service's own event log.

Each evaluation runs on a thread of the process that was asked (the event loop keeps serving) and
reports progress. Jobs are files, STATE/evaluations/<id>.json (at most MAX_KEPT, oldest first out),
so that with `serve --workers N` every ranker lists, reads and deletes every evaluation whichever
ranker started it, and a finished one survives a restart; a job whose process died before it finished
reads as failed. "Apply" warm-starts the winner on the whole log and makes it the live model (like PUT
/model: on a ranker through the learner), after saving the model it replaces to
STATE/previous-model.bin so one "rollback" brings it back.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import orjson

from bandit.errors import BanditError
from bandit.service.wire import iso_time
from safeio.atomic import pid_alive, write_bytes_atomic
from safeio.errors import one_line

MAX_KEPT = 20
DEFAULT_CANDIDATES = ("baseline", "uniform", "vw:select", "vw:squarecb")
PREVIOUS_MODEL = "previous-model.bin"
JOB_ID = re.compile(r"[0-9a-f]{16}")  # what `create` names a job (and its file) with
APPLIED = "applied.json"
PROGRESS_WRITE_S = 0.5  # how often a running job's progress is written for the other processes
_SOURCE = {"logged": "Online", "baseline": "Baseline", "uniform": "Random"}


class EvaluationError(BanditError):
    """A request about evaluations that cannot be honoured (HTTP 400/404/409)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def candidates_from_wire(policies: Any) -> list[str]:
    """Personalizer's `policies: [{name, arguments}]` -> evaluate's candidate specs. `arguments` is
    a candidate spec (`vw:squarecb --gamma_scale 50`, `uniform`, ...) or VW arguments for vw:select."""
    from simulations.ope.policies import check_policy

    if policies is None:
        return list(DEFAULT_CANDIDATES)
    if type(policies) is not list or len(policies) > 16:
        raise EvaluationError("policies must be a list of at most 16 {name, arguments}")
    out = ["baseline", "uniform"]
    for i, p in enumerate(policies):
        if type(p) is not dict or type(p.get("arguments", "")) is not str:
            raise EvaluationError(f"policies[{i}] must be {{name, arguments}} with string arguments")
        args = p.get("arguments", "").strip()
        spec = (
            args
            if args.split(" ", 1)[0] in ("uniform", "baseline", "best-fixed", "linucb", "ts-per-title")
            or args.startswith("vw")
            else "vw:select " + args
        )
        try:
            check_policy(spec)
        except Exception as exc:  # noqa: BLE001 - any refusal is the user's candidate: one line
            raise EvaluationError(f"policies[{i}]: {one_line(exc)}") from None
        out.append(spec)
    return list(dict.fromkeys(out))


def time_window(body: dict[str, Any]) -> tuple[float | None, float | None] | None:
    """Personalizer's startTime/endTime (ISO-8601 date-times; without an offset, the server's local
    time) as (since, until) epoch seconds for the event log, or None when neither is given."""
    from simulations.ope.readers import parse_time

    bounds = []
    for key in ("startTime", "endTime"):
        value = body.get(key)
        seconds = parse_time(value) if type(value) is str else None
        if value is not None and seconds is None:
            raise EvaluationError(f"{key} must be an ISO-8601 date-time like '2024-05-01T12:00:00Z', got {value!r}")
        bounds.append(seconds)
    if bounds == [None, None]:
        return None
    start, end = bounds
    if start is not None and end is not None and start >= end:
        raise EvaluationError("startTime must be before endTime")
    return bounds[0], bounds[1]


MAX_HOURS = 24 * 366 * 10


def last_hours(body: Any, now: float) -> Any:
    """The dashboard's form: `hours` (the last N hours of the log, by the server's clock) becomes
    Personalizer's startTime; anything else is left for Evaluations.create to check."""
    if type(body) is not dict or "hours" not in body:
        return body
    hours = body["hours"]
    if type(hours) not in (int, float) or not 0 < hours <= MAX_HOURS:
        raise EvaluationError(f"hours must be a number above 0 and at most {MAX_HOURS}, got {hours!r}")
    rest = {k: v for k, v in body.items() if k != "hours"}
    return {**rest, "startTime": iso_time(now - hours * 3600.0)}


class Evaluations:
    """The service's evaluations: start, read, delete, apply the winner, roll back.

    `state`: the state folder whose event log is evaluated (the single process's own, or on a ranker
    the learner's, on the same machine); the jobs live in its `evaluations/` folder."""

    def __init__(self, svc: Any, state: str | os.PathLike | None) -> None:
        self.svc = svc
        self.state = Path(state) if state is not None else None
        self.folder = self.state / "evaluations" if self.state is not None else None
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self._running: dict[str, dict[str, Any]] = {}  # this process's jobs, fresher than their files
        self._lock = threading.Lock()

    @property
    def events_path(self) -> Path:
        if self.state is None or not (self.state / "events.sqlite").is_file():
            raise EvaluationError(
                "evaluations read the event log the learner writes (STATE/events.sqlite), which this ranker "
                "cannot reach: run them on a ranker on the learner's machine (docs/serve.md 'Past one process')"
            )
        return self.state / "events.sqlite"

    # -- the job files -----------------------------------------------------------------------
    def _save(self, job: dict[str, Any]) -> None:
        assert self.folder is not None
        self.folder.mkdir(mode=0o700, exist_ok=True)
        write_bytes_atomic(self.folder / f"{job['id']}.json", orjson.dumps(job))

    def _load(self, path: Path) -> dict[str, Any] | None:
        try:
            job = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None  # deleted meanwhile, or not ours: not listed
        if not isinstance(job, dict) or job.get("id") != path.stem:
            return None
        if job.get("status") == "pending" and not self._alive(str(job.get("owner", ""))):
            job = {**job, "status": "failed", "error": "the process running this evaluation stopped before it finished"}
        return job

    def _alive(self, owner: str) -> bool:
        host, _, pid = owner.rpartition(":")
        if host != socket.gethostname() or not pid.isdigit():
            return True  # another machine's: cannot tell
        return int(pid) == os.getpid() or pid_alive(int(pid))

    def _files(self) -> list[Path]:
        if self.folder is None or not self.folder.is_dir():
            return []
        return [p for p in self.folder.iterdir() if p.suffix == ".json" and JOB_ID.fullmatch(p.stem)]

    @property
    def jobs(self) -> OrderedDict[str, dict[str, Any]]:
        """Every job of the state folder, oldest first (this process's running ones as they are now)."""
        found = [job for job in map(self._load, self._files()) if job is not None]
        found += [job for job in self._running.values() if job["id"] not in {j["id"] for j in found}]
        found.sort(key=lambda j: (j.get("created", 0.0), j["id"]))
        return OrderedDict((j["id"], self._running.get(j["id"], j)) for j in found)

    @property
    def applied(self) -> dict[str, Any] | None:
        """The evaluation whose winner serves now (None: none, or rolled back)."""
        if self.folder is None:
            return None
        try:
            return orjson.loads((self.folder / APPLIED).read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None

    @applied.setter
    def applied(self, value: dict[str, Any] | None) -> None:
        assert self.folder is not None
        if value is None:
            (self.folder / APPLIED).unlink(missing_ok=True)
        else:
            self.folder.mkdir(mode=0o700, exist_ok=True)
            write_bytes_atomic(self.folder / APPLIED, orjson.dumps(value))

    def mark(self, eid: str, status: str) -> None:
        """Set a finished job's status (e.g. optimalPolicyApplied) in its file."""
        job = self.get(eid)
        self._save({**job, "status": status})

    # -- lifecycle ---------------------------------------------------------------------------
    def create(self, body: Any) -> dict[str, Any]:
        events_path = self.events_path  # refused first where the log cannot be read
        if body is None:
            body = {}
        if type(body) is not dict:
            raise EvaluationError("the evaluation must be a JSON object")
        unknown = set(body) - {"name", "startTime", "endTime", "policies", "enableOfflineExperimentation"}
        if unknown:
            raise EvaluationError(f"evaluation: unknown field {sorted(unknown)[0]!r}")
        name = body.get("name", "evaluation")
        if type(name) is not str or not 0 < len(name) <= 256:
            raise EvaluationError("name must be a string of 1 to 256 characters")
        candidates = candidates_from_wire(body.get("policies"))
        window = time_window(body)
        if window is not None:  # an empty window is the caller's mistake: said now, not as a failed job
            self._check_window(events_path, window)
        with self._lock:
            jobs = self.jobs
            if any(j["status"] == "pending" for j in jobs.values()):
                raise EvaluationError("an evaluation is already running: wait for it", status=409)
            eid = secrets.token_hex(8)
            job = {
                "id": eid,
                "name": name,
                "status": "pending",
                "progress": 0.0,
                "created": time.time(),
                "startTime": body.get("startTime"),
                "endTime": body.get("endTime"),
                "window": window,
                "candidates": candidates,
                "result": None,
                "error": None,
                "owner": self.owner,
            }
            self._save(job)
            self._running[eid] = job
            for old in list(jobs)[: max(0, len(jobs) + 1 - MAX_KEPT)]:
                self._remove(old)
        threading.Thread(
            target=self._run, args=(job, events_path), name=f"artbandit-evaluation-{eid}", daemon=True
        ).start()
        return self.wire(job)

    def _check_window(self, events_path: Path, window: tuple[float | None, float | None]) -> None:
        from simulations.ope.evaluate import MIN_EVENTS
        from simulations.ope.readers import open_log

        self.svc.log.flush()
        n = open_log(str(events_path), "auto", None, window=window).approx_events()
        if n < MIN_EVENTS:
            since, until = iso_time(window[0]) or "the start of the log", iso_time(window[1]) or "now"
            raise EvaluationError(
                f"the log has {n} event{'s' if n != 1 else ''} from {since} to {until}: "
                f"at least {MIN_EVENTS} are needed to evaluate"
            )

    def _run(self, job: dict[str, Any], events_path: Path) -> None:
        from safeio.jsonl import json_safe
        from simulations.ope.evaluate import evaluate

        written = [time.monotonic()]
        try:
            self.svc.log.flush()  # everything closed so far is in the log the evaluation reads
            total = [1]

            def events(n: int) -> None:
                job["progress"] = min(0.99, job["progress"] + n / max(total[0], 1))
                if time.monotonic() - written[0] >= PROGRESS_WRITE_S:  # for the other processes
                    written[0] = time.monotonic()
                    self._save(job)

            from simulations.ope.readers import open_log

            total[0] = max(1, open_log(str(events_path), "auto", None, window=job["window"]).approx_events()) * (
                2 + len(job["candidates"])
            )
            with tempfile.TemporaryDirectory(prefix="artbandit-serve-eval-") as work:
                result = evaluate(
                    str(events_path),
                    work,
                    job["candidates"],
                    seed=self.svc.seed,
                    importance=True,
                    on_events=events,
                    window=job["window"],
                    on_task=lambda k: events(k * total[0] // (2 + len(job["candidates"]))),
                )
            job["result"] = json_safe(result)
            job["status"] = "completed"
            job["progress"] = 1.0
        except Exception as exc:  # noqa: BLE001 - reported on the evaluation, one line
            job["error"] = one_line(exc)
            job["status"] = "failed"
        job["finished"] = time.time()
        with self._lock:
            try:
                if (self.folder / f"{job['id']}.json").exists():  # type: ignore[operator]
                    self._save(job)  # not if it was deleted while it ran
            except OSError:
                pass
            self._running.pop(job["id"], None)

    def get(self, eid: str) -> dict[str, Any]:
        job = self.jobs.get(eid) if JOB_ID.fullmatch(eid) else None
        if job is None:
            raise EvaluationError(f"no evaluation {eid!r}", status=404)
        return job

    def delete(self, eid: str) -> None:
        with self._lock:
            if not JOB_ID.fullmatch(eid) or eid not in self.jobs:
                raise EvaluationError(f"no evaluation {eid!r}", status=404)
            self._remove(eid)

    def _remove(self, eid: str) -> None:
        assert self.folder is not None and JOB_ID.fullmatch(eid)
        (self.folder / f"{eid}.json").unlink(missing_ok=True)
        self._running.pop(eid, None)

    # -- apply and roll back: building and loading run on a thread of their own; saving the live
    # model runs on the event loop (the thread that learns), as a checkpoint's save does ----------
    def build_winner(self, eid: str) -> tuple[bytes, str]:
        """The winner, warm-started on the whole log, as a model export the service can serve; its spec."""
        from bandit.service.model_export import export_model
        from simulations.ope.policies import build_policy
        from simulations.ope.readers import open_log

        job = self.get(eid)
        if job["status"] != "completed":
            raise EvaluationError(f"evaluation {eid!r} is {job['status']}: nothing to apply", status=409)
        winner = (job["result"]["decision"] or {}).get("winner")
        if not winner or not winner.startswith("vw"):
            raise EvaluationError(f"the winner {winner!r} is not a VW policy: nothing to apply", status=409)
        policy = build_policy(winner, seed=self.svc.seed)
        for chunk in open_log(str(self.events_path), "auto", None).chunks():
            for ev in chunk:
                policy.learn(ev.context, ev.actions, ev.chosen_index, ev.reward, ev.probability)
        return export_model(policy), winner

    def save_previous(self) -> None:
        """Keep the model being replaced for one rollback (on a ranker: the snapshot it serves)."""
        from bandit.service.model_export import export_model

        assert self.state is not None
        write_bytes_atomic(self.state / PREVIOUS_MODEL, export_model(self.svc.policy))

    def previous(self) -> bytes:
        """The model the last "apply" replaced (a model export)."""
        path = self.state / PREVIOUS_MODEL if self.state is not None else None
        if path is None or not path.is_file():
            raise EvaluationError("no previous model to roll back to", status=409)
        return path.read_bytes()

    # -- wire forms --------------------------------------------------------------------------
    def wire(self, job: dict[str, Any]) -> dict[str, Any]:
        """Personalizer's Evaluation, plus artbandit's progress, decision and error."""
        result = job.get("result") or {}
        policies = []
        for p in result.get("policies", []):
            if "error" in p:
                continue
            dr = p["estimates"].get("dr", {})
            ips = p["estimates"].get("ips", {})
            policies.append(
                {
                    "name": p["name"],
                    "arguments": p["name"],
                    "policySource": _SOURCE.get(p["name"], "Custom"),
                    "totalSummary": {
                        "averageReward": dr.get("value"),
                        "confidenceInterval": _half(dr),
                        "ipsEstimatorNumerator": ips.get("value"),
                        "ipsEstimatorDenominator": 1.0,
                        "low": dr.get("low"),
                        "high": dr.get("high"),
                    },
                    "summary": [
                        {"timeStamp": None, "averageReward": b["value"], "low": b["low"], "high": b["high"]}
                        for b in p.get("buckets", {}).get("dr", [])
                    ],
                }
            )
        return {
            "id": job["id"],
            "name": job["name"],
            "jobId": job["id"],
            "status": job["status"],
            "startTime": job.get("startTime"),
            "endTime": job.get("endTime"),
            "creationTime": iso_time(job["created"]),
            "evaluationType": "Manual",
            "policyResults": policies,
            "featureImportance": [[g["name"] for g in self.importance(job)]] if self.importance(job) else [],
            "optimalPolicy": (result.get("decision") or {}).get("winner"),
            "progress": round(job["progress"], 4),
            "error": job["error"],
            "decision": result.get("decision"),
            "events": (result.get("log") or {}).get("events"),
        }

    @staticmethod
    def importance(job: dict[str, Any]) -> list[dict[str, Any]]:
        groups = ((job.get("result") or {}).get("importance") or {}).get("groups") or []
        return [g for g in groups if "error" not in g]

    def feature_importances(self) -> list[dict[str, Any]]:
        """Personalizer's FeatureImportance list: one per completed evaluation (scores: the DR drop
        in reward when the feature group is left out)."""
        out = []
        for job in self.jobs.values():
            if job["status"] != "completed":
                continue
            out.append(
                {
                    "id": job["id"],
                    "name": job["name"],
                    "status": "Succeeded",
                    "creationTime": iso_time(job["created"]),
                    "startTime": job.get("startTime"),
                    "endTime": job.get("endTime"),
                    "featureScores": [
                        {"featureName": f"{g['kind']}:{g['name']}", "score": g["drop"]} for g in self.importance(job)
                    ],
                }
            )
        return out


def _half(est: dict[str, Any]) -> float | None:
    lo, hi = est.get("low"), est.get("high")
    return None if lo is None or hi is None else (hi - lo) / 2
