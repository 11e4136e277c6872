"""Load on `artbandit serve` over loopback, next to the same stack doing no work and the library.

    python bench/serve.py [--pairs 2000] [--clients 1,8,64] [--memory-requests 200000] [--json out.json]
                          [--policy-arguments "--cb_explore_adf --squarecb --gamma_scale 10 -q cA"]

Three peers measured in the same run, with the same rank+reward traffic (contexts never repeat):
- service: `artbandit serve` in a subprocess (real state folder, group commit, auth on);
- bare: a FastAPI app on uvicorn with the same settings whose two routes return a constant
  (the framework's floor: HTTP parsing, routing, JSON response, no work);
- library: bandit.service.decision_service.DecisionService in this process (every call committed, no HTTP).
Clients are asyncio coroutines in this process, one keep-alive HTTP/1.1 connection each (see Connection).
Reported: rank+reward pairs/s (median of alternating rounds), p50/p99 rank latency, the servers'
CPU time per pair (the figure least disturbed by other work), and the service's RSS every 10% of a
long run.
The machine is shared with other work: figures are noisy; compare peers within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# bench/ holds bandit.py: keep the repository root first so `bandit` is the library
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import orjson  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402  (module level: the bare app's annotations resolve)
from fastapi.responses import Response  # noqa: E402

KEY = "bench-key-0123456789abcdef"
ACTIONS = [{"id": f"v{k}", "features": [{"style": f"s{k % 3}", "bright": k / 10, "faces": k % 2}]} for k in range(6)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bare_app():
    """The floor: same framework, same response class, no work."""
    app = FastAPI()
    answer = orjson.dumps(
        {
            "ranking": [{"id": a["id"], "probability": 1 / 6} for a in ACTIONS],
            "eventId": "0" * 32,
            "rewardActionId": "v0",
        }
    )

    @app.post("/personalizer/v1.0/rank")
    async def rank(request: Request) -> Response:
        orjson.loads(await request.body())
        return Response(answer, status_code=201, media_type="application/json")

    @app.post("/personalizer/v1.0/events/{event_id}/reward")
    async def reward(event_id: str, request: Request) -> Response:
        orjson.loads(await request.body())
        return Response(status_code=204)

    return app


def start(kind: str, state: Path, workers: int = 0, update_s: float = 1.0) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "ARTBANDIT_API_KEY": KEY}
    if kind == "service":
        cmd = [sys.executable, "-m", "artbandit", "serve", "--state", str(state), "--port", str(port), "--quiet"]
        if workers:  # rankers + learner on the embedded stream (docs/serve.md "Past one process")
            cmd += ["--workers", str(workers), "--stream", "embedded", "--model-update-seconds", f"{update_s:g}"]
        else:  # the single process (serve's default is one ranker per CPU)
            cmd += ["--workers", "1"]
    else:
        cmd = [sys.executable, __file__, "--bare-server", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            httpx.post(url + "/personalizer/v1.0/rank", content=b"{}", timeout=1.0)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{kind} server did not start")


def worker_pids(url: str, workers: int) -> tuple[list[int], int]:
    """The rankers' and the learner's pids of a `--workers` service (from its /status)."""
    for _ in range(600):
        w = httpx.get(url + "/status", timeout=5.0).json().get("workers", {})
        rankers = [v["pid"] for k, v in w.items() if k.startswith("ranker")]
        if len(rankers) == workers and "learner" in w:
            return rankers, w["learner"]["pid"]
        for _ in range(workers * 4):  # rankers report after their first request or snapshot
            httpx.get(url + "/status", timeout=5.0)
        time.sleep(0.1)
    raise SystemExit("the workers did not all report")


def learner_caught_up(url: str) -> int:
    """Wait until the learner has learned the whole stream; the lag (messages) when first asked."""
    first = None
    for _ in range(6000):
        lag = httpx.get(url + "/status", timeout=5.0).json()["learnerLag"]
        first = lag if first is None else first
        if lag == 0:
            return first
        time.sleep(0.02)
    raise SystemExit("the learner did not catch up")


def context(i: int) -> list[dict]:
    rng = np.random.default_rng(i)  # a fresh viewer every request: contexts never repeat
    return [
        {"user": {"segment": f"seg{i % 7}", "age": float(rng.integers(18, 80)), "id": f"u{i}"}},
        {"device": {"kind": ("tv", "phone", "web")[i % 3], "hour": float(rng.random())}},
    ]


class Connection:
    """One keep-alive HTTP/1.1 connection on asyncio streams. Why not httpx.AsyncClient here: with
    64 connections its pool costs more CPU than the server under test (on this 2-core machine the
    client shares the cores), which would measure the client, not the service."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    async def open(self) -> "Connection":
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        self.writer.write(
            f"POST /personalizer/v1.0{path} HTTP/1.1\r\nhost: {self.host}\r\ncontent-type: application/json\r\n"
            f"ocp-apim-subscription-key: {KEY}\r\ncontent-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, (await self.reader.readexactly(length)) if length else b""

    def close(self) -> None:
        self.writer.close()


async def drive(url: str, clients: int, pairs: int, offset: int) -> tuple[float, list[float]]:
    """`pairs` rank+reward pairs over `clients` connections: (pairs/s, rank latencies in s)."""
    host, port = url.split("//")[1].split(":")
    latencies: list[float] = []
    counter = iter(range(pairs))
    bodies = [orjson.dumps({"contextFeatures": context(offset + i), "actions": ACTIONS}) for i in range(pairs)]
    rewards = [orjson.dumps({"value": float(i % 4 == 0)}) for i in range(4)]
    conns = [await Connection(host, int(port)).open() for _ in range(clients)]

    async def worker(conn: Connection) -> None:
        for i in counter:
            t0 = time.perf_counter()
            status, body = await conn.post("/rank", bodies[i])
            latencies.append(time.perf_counter() - t0)
            if status != 201:
                raise SystemExit(f"rank answered {status}: {body[:200]!r}")
            event = orjson.loads(body)["eventId"]
            status, body = await conn.post(f"/events/{event}/reward", rewards[i % 4])
            if status != 204:
                raise SystemExit(f"reward answered {status}: {body[:200]!r}")

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - t0
    for c in conns:
        c.close()
    return pairs / elapsed, latencies


def library(pairs: int, state: Path, arguments: str | None) -> float:
    from bandit.service.decision_service import DecisionService
    from bandit.service.wire import context_from_wire, features_from_wire

    actions = [{"id": a["id"], "features": features_from_wire(a["features"], "a")} for a in ACTIONS]
    svc = DecisionService(state)
    if arguments:
        svc.replace_policy(svc.new_policy(arguments), arguments)
        svc.checkpoint()
    t0 = time.perf_counter()
    for i in range(pairs):
        r = svc.rank(context_from_wire(context(i)), actions)
        svc.reward(r.event_id, float(i % 4 == 0))
    elapsed = time.perf_counter() - t0
    svc.close()
    return pairs / elapsed


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used: unlike wall-clock rates, barely
    disturbed by other work on a shared machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=2000)
    ap.add_argument("--clients", default="1,8,64")
    ap.add_argument("--rounds", type=int, default=3, help="alternating bare/service rounds per client count")
    ap.add_argument("--memory-requests", type=int, default=200_000)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--policy-arguments", help="the service's VW arguments (default: the service's default, vw:select)")
    ap.add_argument("--workers", default="", help="also measure `serve --workers N` for each N listed, e.g. 1,2")
    ap.add_argument(
        "--model-update-seconds",
        type=float,
        default=1.0,
        help="the workers' model update period (serve's default is 5; each snapshot load stalls a ranker)",
    )
    ap.add_argument("--bare-server", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.bare_server:
        import uvicorn

        uvicorn.run(
            bare_app(),
            host="127.0.0.1",
            port=args.bare_server,
            log_level="warning",
            access_log=False,
            server_header=False,
        )
        return
    results: dict = {
        "machine": "2 cores shared with other helpers' work (figures are noisy)",
        "load_average_at_start": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        results["policy_arguments"] = args.policy_arguments or "the default"
        results["library_pairs_per_s"] = library(args.pairs, Path(tmp) / "lib", args.policy_arguments)
        print(f"library (in process, commit per call): {results['library_pairs_per_s']:.0f} pairs/s", flush=True)
        service, service_url = start("service", Path(tmp) / "svc")
        if args.policy_arguments:
            put = httpx.put(
                service_url + "/personalizer/v1.0/configurations/policy",
                headers={"ocp-apim-subscription-key": KEY},
                json={"name": "bench", "arguments": args.policy_arguments},
            )
            if put.status_code != 200:
                raise SystemExit(f"policy arguments refused: {put.text}")
        bare, bare_url = start("bare", Path(tmp))
        peers = {"bare": (bare, bare_url), "service": (service, service_url)}
        split: dict[str, tuple[list[int], int]] = {}
        for w in [int(x) for x in args.workers.split(",") if x]:
            proc, url = start("service", Path(tmp) / f"w{w}", workers=w, update_s=args.model_update_seconds)
            peers[f"workers{w}"] = (proc, url)
            split[f"workers{w}"] = worker_pids(url, w)
        offset = 1_000_000
        try:
            for clients in [int(c) for c in args.clients.split(",")]:
                # rounds alternate bare and service, so load from other work on the shared machine
                # hits both peers alike; pairs/s is the median round, latencies pool every round
                rates: dict[str, list[float]] = {name: [] for name in peers}
                lats: dict[str, list[float]] = {name: [] for name in peers}
                cpu: dict[str, list[float]] = {name: [] for name in peers}
                learner_cpu: dict[str, list[float]] = {name: [] for name in split}
                lag: dict[str, list[int]] = {name: [] for name in split}
                for name, (_, url) in peers.items():
                    asyncio.run(drive(url, clients, min(200, args.pairs), offset))  # warm up
                    offset += 1000
                    if name in split:
                        learner_caught_up(url)
                n = args.pairs // args.rounds
                for _ in range(args.rounds):
                    for name, (proc, url) in peers.items():
                        # the request path: the server process, or a split service's rankers
                        path_pids = split[name][0] if name in split else [proc.pid]
                        c0 = sum(cpu_s(p) for p in path_pids)
                        l0 = cpu_s(split[name][1]) if name in split else 0.0
                        rate, lat = asyncio.run(drive(url, clients, n, offset))
                        cpu[name].append(1000 * (sum(cpu_s(p) for p in path_pids) - c0) / n)
                        if name in split:  # the learner's CPU for these pairs: until it has caught up
                            lag[name].append(learner_caught_up(url))
                            learner_cpu[name].append(1000 * (cpu_s(split[name][1]) - l0) / n)
                        offset += args.pairs
                        rates[name].append(rate)
                        lats[name] += lat
                row = {
                    name: {
                        "pairs_per_s": float(np.median(rates[name])),
                        "rounds_pairs_per_s": rates[name],
                        "rank_p50_ms": 1000 * float(np.percentile(lats[name], 50)),
                        "rank_p99_ms": 1000 * float(np.percentile(lats[name], 99)),
                        "server_cpu_ms_per_pair": float(np.median(cpu[name])),
                    }
                    for name in rates
                }
                for name in split:
                    row[name]["learner_cpu_ms_per_pair"] = float(np.median(learner_cpu[name]))
                    row[name]["learner_lag_messages_at_end"] = lag[name]
                row["ratio"] = row["service"]["pairs_per_s"] / row["bare"]["pairs_per_s"]
                row["cpu_ratio"] = row["bare"]["server_cpu_ms_per_pair"] / row["service"]["server_cpu_ms_per_pair"]
                results[f"clients_{clients}"] = row
                print(
                    f"{clients:3d} clients: service {row['service']['pairs_per_s']:7.0f} pairs/s "
                    f"(p50 {row['service']['rank_p50_ms']:.1f} ms, p99 {row['service']['rank_p99_ms']:.1f} ms)  "
                    f"bare {row['bare']['pairs_per_s']:7.0f} pairs/s (p50 {row['bare']['rank_p50_ms']:.1f} ms, "
                    f"p99 {row['bare']['rank_p99_ms']:.1f} ms)  ratio {row['ratio']:.2f}; server CPU per pair "
                    f"service {row['service']['server_cpu_ms_per_pair']:.2f} ms, bare "
                    f"{row['bare']['server_cpu_ms_per_pair']:.2f} ms (ratio {row['cpu_ratio']:.2f})",
                    flush=True,
                )
                for name in split:
                    r = row[name]
                    print(
                        f"             {name}: {r['pairs_per_s']:7.0f} pairs/s (p50 {r['rank_p50_ms']:.1f} ms, "
                        f"p99 {r['rank_p99_ms']:.1f} ms, {r['pairs_per_s'] / row['bare']['pairs_per_s']:.2f} of "
                        f"bare); CPU per pair: rankers {r['server_cpu_ms_per_pair']:.2f} ms, learner "
                        f"{r['learner_cpu_ms_per_pair']:.2f} ms; learner lag at end {r['learner_lag_messages_at_end']} "
                        "messages",
                        flush=True,
                    )
            if args.memory_requests:
                pairs = args.memory_requests // 2
                step = max(1, pairs // 10)
                samples = [rss_kb(service.pid)]
                for _ in range(10):
                    asyncio.run(drive(service_url, 64, step, offset))
                    offset += step
                    samples.append(rss_kb(service.pid))
                results["memory_rss_mb"] = [round(s / 1024, 1) for s in samples]
                print(f"service RSS over {args.memory_requests} requests (MB): {results['memory_rss_mb']}", flush=True)
        finally:
            for proc, _ in peers.values():
                proc.send_signal(signal.SIGTERM)
                proc.wait(60)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
