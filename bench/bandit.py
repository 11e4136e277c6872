"""Benchmark: decisions per second and rank latency of the artbandit personalizer vs. its peers.

Same workload for everyone, as production runs it: 8 artwork variants with 10 features each, viewers
with 10 context features (5 categorical from the viewer's profile, 5 numeric drawn fresh for every
decision, so contexts never repeat and no cache of parsed contexts can hit), one decision = rank
(predict + sample) + reward + learn. artbandit's default policy (vw:select) runs with its SQLite event
log on and user ids hashed (the headline row), and without them for reference; the one-model
vw:squarecb the same two ways. Peers, in the same run and on the same stream:
raw VW through the public Workspace API written naively (f-strings per decision) and carefully
(templates, action lines cached, one parse per decision, label set in place), a minimal numpy
disjoint LinUCB (Sherman-Morrison), MABWiser's LinUCB one row at a time, and artbandit's own LinUCB
baseline. Targets are reported raw against these peers, never rescaled.
Then memory over many decisions at full speed on the wall clock with the default 600 s reward
window, log on: RSS, pending events and expiry-queue entries at checkpoints.

    python bench/bandit.py [--decisions 20000] [--memory-decisions 1000000] [--seed 0] [--profile] [--only 1,3]

Why over 400 lines: every contender is written out here on purpose, so a reader can check that
the peers are given the same stream and a fair implementation.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bandit import make_policy  # noqa: E402

K = 8
COUNTRIES = ["US", "FR", "DE", "BR", "JP", "IN"]
DEVICES = ["tv", "phone", "tablet", "web"]
STYLES = ["closeup", "group", "landscape", "title"]


def make_world(seed: int, users: int = 2000):
    """Viewers (contexts + hidden taste vector) and 8 variants (features + hidden appeal vector)."""
    rng = np.random.default_rng(seed)
    actions = []
    for i in range(K):
        feats = {f"f{j}": round(float(rng.random()), 3) for j in range(7)}
        feats.update({"style": STYLES[i % 4], "faces": float(i % 3), "tone": "dark" if i % 2 else "light"})
        actions.append({"id": f"v{i}", "features": feats})
    contexts, tastes = [], []
    for u in range(users):
        genre = rng.dirichlet(np.ones(4))
        contexts.append(
            {
                "user": {
                    "country": COUNTRIES[u % 6],
                    "device": DEVICES[u % 4],
                    "lang": ["en", "fr", "de"][u % 3],
                    "plan": ["basic", "std", "premium"][u % 3],
                    "segment": f"s{u % 5}",
                },
                "history": {
                    "comedy": round(float(genre[0]), 3),
                    "drama": round(float(genre[1]), 3),
                    "action": round(float(genre[2]), 3),
                    "romance": round(float(genre[3]), 3),
                    "hour": float(u % 24) / 24.0,
                },
            }
        )
        tastes.append(u % 5)
    # click probability: the preferred variant of each segment is much better
    click = np.full((5, K), 0.05)
    for s in range(5):
        click[s, (3 * s) % K] = 0.5
        click[s, (3 * s + 1) % K] = 0.25
    return actions, contexts, np.array(tastes), click


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def percentiles(samples: list[float]) -> tuple[float, float]:
    a = np.array(samples) * 1e6
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


class Clock:
    """Wall time and this process's CPU time, per rank call and per run.

    Why both: on a shared machine other processes steal the CPU; wall-clock p99 then measures the
    scheduler. CPU time (CLOCK_THREAD_CPUTIME_ID) is what the code itself costs."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def start_run(self) -> None:
        self.t0, self.c0 = time.perf_counter(), time.process_time()

    def end_run(self, n: int) -> tuple[float, float]:
        return n / (time.perf_counter() - self.t0), n / (time.process_time() - self.c0)

    def __enter__(self) -> "Clock":
        self._w, self._c = time.perf_counter(), time.thread_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu.append(time.thread_time() - self._c)
        self.wall.append(time.perf_counter() - self._w)


# -- contenders: each returns (decisions/s, rank latencies, clicks) ----------------------------------
def fresh_context(profile: dict, rng) -> dict:
    """A viewer's profile plus numbers that are new at every decision (time of day, recency, session
    signals): what real traffic looks like to a cache keyed by context."""
    x = rng.random(5)
    return {
        "user": profile["user"],
        "history": {
            "comedy": round(float(x[0]), 4),
            "drama": round(float(x[1]), 4),
            "action": round(float(x[2]), 4),
            "romance": round(float(x[3]), 4),
            "hour": round(float(x[4]) * 24.0, 3),
        },
    }


def decision_stream(world, n, seed):
    """The viewer, the context and the uniform draw deciding the click of each decision: the same
    stream for every contender, so rates and CTRs compare like with like. No two contexts repeat."""
    rng = np.random.default_rng(seed + 1)
    users, coins = rng.integers(len(world[1]), size=n), rng.random(n)
    contexts = world[1]
    return users, coins, [fresh_context(contexts[u], rng) for u in users]


def run_artbandit(spec, n, world, seed, log=None, hashed=True):
    actions, contexts, tastes, click = world
    policy = make_policy(spec, seed=seed, log=log, secret="bench-secret-0123456789")
    users, coins, ctxs = decision_stream(world, n, seed)
    user_ids = [f"user-{u}" for u in users] if hashed else [None] * n
    clock = Clock()
    clicks = 0
    clock.start_run()
    for t in range(n):
        u = users[t]
        with clock:
            d = policy.rank(ctxs[t], actions, user_id=user_ids[t], now=float(t))
        r = 1.0 if coins[t] < click[tastes[u], d.index] else 0.0
        clicks += r
        policy.reward(d.event_id, r, now=float(t))
    policy.close()
    return clock.end_run(n), clock, clicks / n


def run_naive_vw(n, world, seed):
    """What people write first: f-strings per decision, Workspace.predict/learn on list[str]."""
    import vowpalwabbit

    actions, contexts, tastes, click = world
    vw = vowpalwabbit.Workspace(f"--cb_explore_adf --squarecb --quiet -q ua --random_seed {seed}")
    users, coins, ctxs = decision_stream(world, n, seed)
    sampler = np.random.default_rng(seed)
    clock = Clock()
    clicks = 0
    clock.start_run()
    for t in range(n):
        u = users[t]
        clock.__enter__()
        ctx = ctxs[t]
        shared = "shared " + " ".join(
            f"|u{ns} " + " ".join(f"{k}={v}" if isinstance(v, str) else f"{k}:{v}" for k, v in f.items())
            for ns, f in ctx.items()
        )
        lines = [shared] + [
            "|a "
            + f"id={act['id']} "
            + " ".join(f"{k}={v}" if isinstance(v, str) else f"{k}:{v}" for k, v in act["features"].items())
            for act in actions
        ]
        pmf = vw.predict(lines)
        idx = int(np.searchsorted(np.cumsum(pmf), sampler.random() * sum(pmf)))
        idx = min(idx, K - 1)
        clock.__exit__()
        r = 1.0 if coins[t] < click[tastes[u], idx] else 0.0
        clicks += r
        lines[1 + idx] = f"0:{1.0 - r}:{pmf[idx]} " + lines[1 + idx]
        vw.learn(lines)
    return clock.end_run(n), clock, clicks / n


def run_templates_vw(n, world, seed):
    """What a careful VW user writes with the public API: %-templates, action lines formatted once,
    the examples parsed once per decision and, for learning, the chosen one labelled in place."""
    import vowpalwabbit

    actions, contexts, tastes, click = world
    vw = vowpalwabbit.Workspace(f"--cb_explore_adf --squarecb --quiet -q ua --random_seed {seed}")

    def feats(f):
        return " ".join(("%s=%s" if isinstance(v, str) else "%s:%s") % (k, v) for k, v in f.items())

    action_lines = ["|a id=%s %s" % (a["id"], feats(a["features"])) for a in actions]
    users, coins, ctxs = decision_stream(world, n, seed)
    sampler = np.random.default_rng(seed)
    clock = Clock()
    clicks = 0
    clock.start_run()
    for t in range(n):
        u = users[t]
        clock.__enter__()
        shared = "shared " + " ".join("|u%s %s" % (ns, feats(f)) for ns, f in ctxs[t].items())
        ex = vw.parse([shared] + action_lines)
        pmf = vw.predict(ex)
        idx = min(int(np.searchsorted(np.cumsum(pmf), sampler.random() * sum(pmf))), K - 1)
        clock.__exit__()
        r = 1.0 if coins[t] < click[tastes[u], idx] else 0.0
        clicks += r
        ex[1 + idx].set_label_string(f"0:{1.0 - r}:{pmf[idx]}")
        vw.learn(ex)
        vw.finish_example(ex)
    return clock.end_run(n), clock, clicks / n


def run_vw_core(n, world, seed):
    """The floor for any VW-based loop here: VW used the way artbandit uses it (action examples
    parsed once, one shared example per decision from prebuilt text, a labelled copy of the chosen
    action for learning, --no_predict), with no validation, bookkeeping or sampling logic."""
    import pylibvw
    import vowpalwabbit

    from bandit.features import ActionRegistry, context_line

    actions, contexts, tastes, click = world
    vw = vowpalwabbit.Workspace(f"--cb_explore_adf --squarecb --quiet --no_predict -q cA --random_seed {seed}")
    label_type = int(vw.get_label_type())
    entries = ActionRegistry().lookup(actions)
    action_examples = [pylibvw.example(vw, label_type, e.vw_line) for e in entries]
    users, coins, ctxs = decision_stream(world, n, seed)
    shared_lines = [context_line(c) for c in ctxs]  # formatted before the clock starts: a floor
    clock = Clock()
    clicks = 0
    clock.start_run()
    for t in range(n):
        u = users[t]
        with clock:
            ex = [pylibvw.example(vw, label_type, shared_lines[t])] + action_examples
            pylibvw.vw.predict_multi(vw, ex)
            pmf = ex[0].get_action_scores()
            idx = max(range(K), key=pmf.__getitem__)
        r = 1.0 if coins[t] < click[tastes[u], idx] else 0.0
        clicks += r
        ex[1 + idx] = pylibvw.example(vw, label_type, f"0:{1.0 - r}:{pmf[idx]} {entries[idx].vw_line}")
        pylibvw.vw.learn_multi(vw, ex)
    return clock.end_run(n), clock, clicks / n


def vectorize(ctx, dims=32):
    x = np.zeros(dims)
    x[0] = 1.0
    for ns, feats in ctx.items():
        for k, v in feats.items():
            key = f"{ns}\x00{k}\x00{v}" if isinstance(v, str) else f"{ns}\x00{k}"
            x[1 + zlib.crc32(key.encode()) % (dims - 1)] += 1.0 if isinstance(v, str) else v
    return x


def run_numpy_linucb(n, world, seed, alpha=1.0, dims=32):
    """Minimal disjoint LinUCB: per-arm A^-1 kept by Sherman-Morrison, epsilon 0.05 for propensities."""
    actions, contexts, tastes, click = world
    a_inv = np.stack([np.eye(dims)] * K)
    b = np.zeros((K, dims))
    theta = np.zeros((K, dims))
    users, coins, ctxs = decision_stream(world, n, seed)
    xs = [vectorize(c, dims) for c in ctxs]  # featurized before the clock starts, favouring the peer
    sampler = np.random.default_rng(seed)
    clock = Clock()
    clicks = 0
    clock.start_run()
    for t in range(n):
        u = users[t]
        with clock:
            x = xs[t]
            ax = a_inv @ x
            scores = theta @ x + alpha * np.sqrt(ax @ x)
            idx = int(np.argmax(scores)) if sampler.random() > 0.05 else int(sampler.integers(K))
        r = 1.0 if coins[t] < click[tastes[u], idx] else 0.0
        clicks += r
        v = ax[idx]
        a_inv[idx] -= np.outer(v, v) / (1.0 + x @ v)
        b[idx] += r * x
        theta[idx] = a_inv[idx] @ b[idx]
    return clock.end_run(n), clock, clicks / n


def run_mabwiser(n, world, seed):
    from mabwiser.mab import MAB, LearningPolicy

    actions, contexts, tastes, click = world
    users, coins, ctxs = decision_stream(world, n, seed)
    xs = [vectorize(c) for c in ctxs]
    arms = [a["id"] for a in actions]
    mab = MAB(arms, LearningPolicy.LinUCB(alpha=1.0), seed=seed)
    mab.fit(arms, [0.0] * K, np.stack([xs[0]] * K))
    clock = Clock()
    clicks = 0
    clock.start_run()
    for t in range(n):
        u = users[t]
        with clock:
            arm = mab.predict([xs[t]])
        idx = arms.index(arm)
        r = 1.0 if coins[t] < click[tastes[u], idx] else 0.0
        clicks += r
        mab.partial_fit([arm], [r], [xs[t]])
    return clock.end_run(n), clock, clicks / n


def memory_run(n, world, seed, log_path, checkpoints=10, unrewarded_every=0):
    """Yield (decisions, RSS MB, pending events, expiry-queue entries, wall s, CPU s) at checkpoints
    while one personalizer runs at full speed on the wall clock (now=None) with the default 600 s
    reward window, its log on, user ids hashed, contexts that never repeat. Every event is rewarded
    at once (as in the issue's 300k rank+reward run), or all but one in `unrewarded_every`, which
    wait for their window (then memory grows with them, as it should, until windows start closing)."""
    actions, contexts, tastes, click = world
    policy = make_policy("vw:squarecb", seed=seed, secret="bench-secret-0123456789", log=log_path)
    rng = np.random.default_rng(seed + 2)
    step = max(1, n // checkpoints)
    t0, c0 = time.perf_counter(), time.process_time()
    yield 0, rss_mb(), 0, 0, 0.0, 0.0
    for t in range(n):
        u = int(rng.integers(len(contexts)))
        d = policy.rank(fresh_context(contexts[u], rng), actions, user_id=f"user-{u}")
        if not unrewarded_every or t % unrewarded_every:
            policy.reward(d.event_id, 1.0 if rng.random() < click[tastes[u], d.index] else 0.0)
        if (t + 1) % step == 0:
            yield (
                t + 1,
                rss_mb(),
                policy.pending_count,
                len(policy._book.window.heap),
                time.perf_counter() - t0,
                time.process_time() - c0,
            )
    policy.close()


def profile_artbandit(n, world, seed, log_path) -> str:
    """Where the time of a decision with log and hashing goes (cProfile, top functions by own time)."""
    import cProfile
    import io
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    run_artbandit("vw:select", n, world, seed, log=log_path)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(18)
    return out.getvalue()


HEADLINE = "artbandit vw:select (the default), log + hashed user ids"
NAIVE = "raw VW, naive f-strings"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--mabwiser-decisions", type=int, default=3_000, help="MABWiser is slow")
    parser.add_argument("--memory-decisions", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--unrewarded-every",
        type=int,
        default=0,
        help="in the memory run, leave one event in N without reward (default: none)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the headline contender")
    parser.add_argument("--only", default="", help="comma-separated contender numbers to run (1-based; default: all)")
    parser.add_argument(
        "--pairs",
        type=int,
        default=3,
        help="then run the headline, the naive loop and vw:squarecb (log + hashing) alternately N more times"
        " (the ratios' spread on a busy machine)",
    )
    args = parser.parse_args()
    world = make_world(args.seed)
    n = args.decisions
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        contenders = [
            (HEADLINE, lambda: run_artbandit("vw:select", n, world, args.seed, log=Path(tmp) / "events.sqlite"), n),
            (
                "artbandit vw:select (default), no log, no user ids",
                lambda: run_artbandit("vw:select", n, world, args.seed, hashed=False),
                n,
            ),
            (
                "artbandit vw:squarecb (one model), log + hashed user ids",
                lambda: run_artbandit("vw:squarecb", n, world, args.seed, log=Path(tmp) / "squarecb.sqlite"),
                n,
            ),
            (
                "artbandit vw:squarecb, no log, no user ids",
                lambda: run_artbandit("vw:squarecb", n, world, args.seed, hashed=False),
                n,
            ),
            (NAIVE, lambda: run_naive_vw(n, world, args.seed), n),
            ("raw VW, templates, parse once, label reused", lambda: run_templates_vw(n, world, args.seed), n),
            (
                "VW core only (same VW calls, no bookkeeping, greedy; a floor, not a peer)",
                lambda: run_vw_core(n, world, args.seed),
                n,
            ),
            ("numpy LinUCB (minimal loop)", lambda: run_numpy_linucb(n, world, args.seed), n),
            (
                "artbandit linucb baseline, log + hashed user ids",
                lambda: run_artbandit("linucb", n, world, args.seed, log=Path(tmp) / "linucb.sqlite"),
                n,
            ),
            (
                "MABWiser LinUCB, row by row",
                lambda: run_mabwiser(args.mabwiser_decisions, world, args.seed),
                args.mabwiser_decisions,
            ),
        ]
        if args.only:
            keep = {int(i) for i in args.only.split(",")} | {1}
            contenders = [c for i, c in enumerate(contenders, 1) if i in keep or c[0] == NAIVE]
        for name, fn, count in contenders:
            try:
                (rate, cpu_rate), clock, ctr = fn()
            except ImportError as exc:  # an optional peer (MABWiser: the bench extra) is not installed
                print(f"  skipped: {name} ({exc})", file=sys.stderr, flush=True)
                continue
            rows.append((name, count, rate, cpu_rate, *percentiles(clock.wall), *percentiles(clock.cpu), ctr))
            print(f"  done: {name}", file=sys.stderr, flush=True)
        profile = profile_artbandit(n, world, args.seed, Path(tmp) / "profile.sqlite") if args.profile else ""
    cpu_base = rows[0][3]
    print(
        f"\n{K} variants x 10 action features, 10 context features (never repeating); decision = rank +"
        f" reward + learn; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (shared machine)"
    )
    print(
        "| contender | decisions | decisions/s (wall) | per CPU-s | vs headline (CPU) "
        "| rank p50/p99 us (wall) | rank p50/p99 us (CPU) | CTR |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, count, rate, cpu_rate, w50, w99, c50, c99, ctr in rows:
        print(
            f"| {name} | {count:,} | {rate:,.0f} | {cpu_rate:,.0f} | {cpu_rate / cpu_base:.2f}x "
            f"| {w50:.0f} / {w99:.0f} | {c50:.0f} / {c99:.0f} | {ctr:.3f} |"
        )
    print("(best possible CTR ~0.48; rank latency = predict + sample (+ log, hash), without reward/learn)")
    by_name = {name: (rate, cpu) for name, _, rate, cpu, *_ in rows}
    (ours, ours_cpu), (naive, naive_cpu) = by_name[HEADLINE], by_name[NAIVE]
    print(
        f"{HEADLINE} vs {NAIVE}, same stream, same run: {ours / naive:.2f}x wall, {ours_cpu / naive_cpu:.2f}x"
        f" CPU (target >= 2x: {'met' if ours / naive >= 2.0 else 'NOT met'})"
    )
    if args.pairs:
        ratios = []
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(args.pairs):
                (h, h_cpu), _, _ = run_artbandit("vw:select", n, world, args.seed, log=Path(tmp) / f"pair{i}.sqlite")
                (v, v_cpu), _, _ = run_naive_vw(n, world, args.seed)
                (o, o_cpu), _, _ = run_artbandit("vw:squarecb", n, world, args.seed, log=Path(tmp) / f"one{i}.sqlite")
                ratios.append((h / v, h_cpu / v_cpu, h / o, h_cpu / o_cpu))
                print(
                    f"pair {i + 1}: headline {h:,.0f}/s ({h_cpu:,.0f}/CPU-s), naive {v:,.0f}/s ({v_cpu:,.0f}/CPU-s):"
                    f" {h / v:.2f}x wall, {h_cpu / v_cpu:.2f}x CPU; vw:squarecb with log + hashing {o:,.0f}/s"
                    f" ({o_cpu:,.0f}/CPU-s): the default at {h / o:.2f}x wall, {h_cpu / o_cpu:.2f}x CPU of it",
                    flush=True,
                )

        def spread(j: int) -> str:
            values = sorted(r[j] for r in ratios)
            return f"median {values[len(values) // 2]:.2f}x (range {values[0]:.2f}-{values[-1]:.2f})"

        print(
            f"headline / naive over {args.pairs} alternating runs: {spread(0)} wall, {spread(1)} CPU;"
            f" headline / vw:squarecb (log + hashing): {spread(2)} wall, {spread(3)} CPU"
        )
    if profile:
        print("\nprofile of the headline contender (top functions by own time):\n" + profile)
    if args.memory_decisions:
        print(
            f"\nartbandit vw:squarecb memory over {args.memory_decisions:,} decisions at full speed on the wall"
            " clock, default 600 s window, log on, user ids hashed, contexts never repeating"
        )
        print("| decisions | RSS MB | pending events | expiry-queue entries | wall s | CPU s |")
        print("|---|---|---|---|---|---|")
        with tempfile.TemporaryDirectory() as tmp:
            for count, mb, pending, queued, secs, cpu in memory_run(
                args.memory_decisions,
                world,
                args.seed,
                Path(tmp) / "memory.sqlite",
                unrewarded_every=args.unrewarded_every,
            ):
                print(f"| {count:,} | {mb:.1f} | {pending:,} | {queued:,} | {secs:.0f} | {cpu:.0f} |", flush=True)


if __name__ == "__main__":
    main()
