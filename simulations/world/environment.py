"""The simulated world a policy is run against: a stream of impressions with exact click probabilities.

Each impression is (viewer, title, available variants) at a simulated time. Probabilities are
computed vectorised in chunks (numpy), so the per-impression Python work is only building a small
object; actions lists are built once per (title, number of available variants).

Click model (all hidden from the policy):
    logit = base_logit + affinity[viewer, title] + taste_scale * tastes[viewer] . AZ[title, variant]
            + clickbait_boost * clickbait[variant]
where AZ projects the variant's standardised image features onto the taste attributes.
P(quality play | click) = sigmoid(play_logit + play_affinity * affinity - clickbait_penalty * clickbait),
and `play_p` is the unconditional P(quality play) = click_p * P(play | click).
The same seed gives the same stream of viewers, titles and random draws for every policy
(common random numbers), so policies are compared on identical traffic.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from simulations.world.audience import TOD_P, Audience, build_audience
from simulations.world.scenarios import ATTRIBUTES, Scenario
from simulations.world.titleset import TitleSet, generate_titleset, load_variant_dirs

CHUNK = 4096


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class Impression:
    """One chance to show artwork: who, what title, which variants, and the true probabilities."""

    __slots__ = (
        "t",
        "time_s",
        "user_id",
        "segment",
        "context",
        "title_id",
        "actions",
        "click_p",
        "play_p",
        "u_click",
        "u_play",
        "title",
        "k",
    )

    def __init__(
        self, t, time_s, user_id, segment, context, title_id, actions, click_p, play_p, u_click, u_play, title, k
    ):
        self.t = t
        self.time_s = time_s
        self.user_id = user_id
        self.segment = segment
        self.context = context
        self.title_id = title_id
        self.actions = actions
        self.click_p = click_p
        self.play_p = play_p
        self.u_click = u_click
        self.u_play = u_play
        self.title = title
        self.k = k


@dataclass
class Stream:
    """The whole run as arrays (row t = impression t); shared by every policy and by the metrics."""

    n: int
    user: np.ndarray  # (n,)
    title: np.ndarray  # (n,)
    segment: np.ndarray  # (n,)
    tod: np.ndarray  # (n,)
    k: np.ndarray  # (n,) number of available variants (a prefix of the title's list)
    click_p: np.ndarray  # (n, Kmax), 0 where unavailable
    play_p: np.ndarray  # (n, Kmax)
    u_click: np.ndarray  # (n,) uniforms deciding the click (common random numbers)
    u_play: np.ndarray  # (n,)
    time_s: np.ndarray  # (n,)


class Environment:
    """A scenario turned into a concrete catalogue and audience; deterministic under `seed`."""

    def __init__(
        self,
        scenario: Scenario,
        seed: int = 0,
        *,
        variants: Sequence[str | Path] | None = None,
    ) -> None:
        self.scenario = scenario
        self.seed = seed
        ss = np.random.SeedSequence(seed)
        cat_ss, aud_ss, self._stream_ss = ss.spawn(3)
        cat_rng = np.random.default_rng(cat_ss)
        if variants:
            self.titleset: TitleSet = load_variant_dirs(variants, scenario, cat_rng)
        else:
            self.titleset = generate_titleset(scenario, cat_rng)
        titles = self.titleset.titles
        self.audience: Audience = build_audience(scenario, [t.genre for t in titles], np.random.default_rng(aud_ss))
        self.segment_names = self.audience.segment_names
        self._prepare()

    # -- precomputation -------------------------------------------------------------------------
    def _prepare(self) -> None:
        cat, sc = self.titleset, self.scenario
        names = cat.feature_names
        T, K = len(cat.titles), cat.max_variants
        X = np.array([[v.features[n] for n in names] for t in cat.titles for v in t.variants])
        mu, sd = X.mean(axis=0), X.std(axis=0)
        scale = np.where(sd > 1e-9, 1.0 / np.maximum(sd, 1e-9), 0.0)
        # attribute x feature projection (features absent from the catalogue simply don't count)
        M = np.array([[ATTRIBUTES[a].get(n, 0.0) for n in names] for a in ATTRIBUTES])
        self.az = np.zeros((T, len(ATTRIBUTES), K))  # (T, A, K) attribute scores per variant
        self.bait = np.zeros((T, K))
        self.n_variants = np.array([len(t.variants) for t in cat.titles])
        # each attribute score is standardised over the catalogue: taste 1.0 = 1 logit per sd
        scores = ((X - mu) * scale) @ M.T  # (all variants, A)
        s_sd = scores.std(axis=0)
        s_scale = np.where(s_sd > 1e-9, 1.0 / np.maximum(s_sd, 1e-9), 0.0)
        row = 0
        for ti, t in enumerate(cat.titles):
            kt = len(t.variants)
            self.az[ti, :, :kt] = ((scores[row : row + kt] - scores.mean(axis=0)) * s_scale).T
            self.bait[ti, :kt] = [v.clickbait for v in t.variants]
            row += kt
        # availability in the two epochs (before/after arrive_at)
        self.k_epoch = np.array(
            [[sum(v.arrive <= 0.0 for v in t.variants) for t in cat.titles], [len(t.variants) for t in cat.titles]]
        )
        pop = 1.0 / np.arange(1, T + 1) ** sc.popularity_exponent
        early = np.array([t.arrive <= 0.0 for t in cat.titles])
        p0 = np.where(early, pop, 0.0)
        p1 = np.where(early, pop, pop.max())  # new releases are promoted like the top title
        self.title_p = np.stack([p0 / p0.sum(), p1 / p1.sum()])
        # actions lists, built once per (title, available count); dicts shared, never mutated
        self._actions: list[dict[int, list[dict]]] = []
        for ti, t in enumerate(cat.titles):
            full = [{"id": v.id, "features": v.features} for v in t.variants]
            self._actions.append({int(k): full[:k] for k in set(self.k_epoch[:, ti])})
        self._title_ctx = [{"genre": t.genre} for t in cat.titles]

    # -- the stream -----------------------------------------------------------------------------
    def generate(self, n: int) -> Stream:
        """All `n` impressions as arrays, computed vectorised in chunks of CHUNK."""
        if n < 1:
            raise ValueError("n must be >= 1")
        sc, aud = self.scenario, self.audience
        rng = np.random.default_rng(self._stream_ss)
        K = self.az.shape[2]
        out = Stream(
            n=n,
            user=np.empty(n, np.int64),
            title=np.empty(n, np.int64),
            segment=np.empty(n, np.int64),
            tod=np.empty(n, np.int64),
            k=np.empty(n, np.int64),
            click_p=np.zeros((n, K)),
            play_p=np.zeros((n, K)),
            u_click=np.empty(n),
            u_play=np.empty(n),
            time_s=np.arange(n) / sc.impressions_per_s,
        )
        T = self.az.shape[0]
        arrive_t = int(np.ceil(sc.arrive_at * n))
        drift_t = n + 1 if sc.drift_at is None else int(np.ceil(sc.drift_at * n))
        cols = np.arange(K)
        for a in range(0, n, CHUNK):
            b = min(n, a + CHUNK)
            m = b - a
            t_idx = np.arange(a, b)
            epoch = (t_idx >= arrive_t).astype(np.int64)
            phase = (t_idx >= drift_t).astype(np.int64)
            user = rng.integers(0, sc.users, size=m)
            u_title = rng.random(m)
            title = np.empty(m, np.int64)
            for e in (0, 1):
                sel = epoch == e
                if sel.any():
                    cdf = np.cumsum(self.title_p[e])
                    title[sel] = np.minimum(np.searchsorted(cdf, u_title[sel] * cdf[-1], side="right"), T - 1)
            k = self.k_epoch[epoch, title]
            taste = aud.tastes[phase, user]  # (m, A)
            aff = aud.affinity[user, title]  # (m,)
            lin = np.einsum("ma,mak->mk", taste, self.az[title])
            bait = self.bait[title]
            logit = sc.base_logit + aff[:, None] + sc.taste_scale * lin + sc.clickbait_boost * bait
            avail = cols[None, :] < k[:, None]
            click = np.where(avail, _sigmoid(logit), 0.0)
            pgc = _sigmoid(sc.play_logit + sc.play_affinity * aff[:, None] - sc.clickbait_penalty * bait)
            out.user[a:b] = user
            out.title[a:b] = title
            out.segment[a:b] = aud.segment[user]
            out.tod[a:b] = rng.choice(len(TOD_P), size=m, p=TOD_P)
            out.k[a:b] = k
            out.click_p[a:b] = click
            out.play_p[a:b] = click * pgc
            out.u_click[a:b] = rng.random(m)
            out.u_play[a:b] = rng.random(m)
        return out

    def iter_stream(self, s: Stream) -> Iterator[Impression]:
        """Impression objects over a generated stream (cheap: views and cached dicts only)."""
        aud = self.audience
        titles = self.titleset.titles
        seg_names = self.segment_names
        actions = self._actions
        title_ctx = self._title_ctx
        users, tids, segs, tods, ks = (
            s.user.tolist(),
            s.title.tolist(),
            s.segment.tolist(),
            s.tod.tolist(),
            s.k.tolist(),
        )
        uc, up, times = s.u_click.tolist(), s.u_play.tolist(), s.time_s.tolist()
        ctx_of = aud.context
        uids = aud.user_ids
        for t in range(s.n):
            ti, k, u = tids[t], ks[t], users[t]
            yield Impression(
                t,
                times[t],
                uids[u],
                seg_names[segs[t]],
                {"user": ctx_of(u, tods[t]), "title": title_ctx[ti]},
                titles[ti].id,
                actions[ti][k],
                s.click_p[t, :k],
                s.play_p[t, :k],
                uc[t],
                up[t],
                ti,
                k,
            )

    def impressions(self, n: int) -> Iterator[Impression]:
        """The run's `n` impressions in order (same seed -> same impressions)."""
        return self.iter_stream(self.generate(n))

    @staticmethod
    def outcome(imp: Impression, index: int, rng: np.random.Generator | None = None) -> tuple[bool, bool]:
        """(click, quality play) for showing variant `index`; a play implies a click.

        Without `rng` the impression's own uniforms decide (common random numbers: every policy
        that shows the same variant to the same impression gets the same outcome).
        """
        if rng is None:
            u_click, u_play = imp.u_click, imp.u_play
        else:
            u_click, u_play = rng.random(), rng.random()
        cp = float(imp.click_p[index])
        click = u_click < cp
        play = click and u_play * cp < float(imp.play_p[index])
        return click, play
