"""Memory follows what is pending: rewarded events leave the expiry queue, caches are bounded by size."""
from __future__ import annotations

import pytest

from bandit import make_policy, vwformat
from bandit import features as bandit_features
from tests.bandit_helpers import Stream, make_actions

SECRET = "test-secret-0123456789"


@pytest.mark.parametrize("spec", ["uniform", "vw"])
def test_rewarded_events_leave_the_expiry_queue(spec):
    # 20k decisions at 1,000/s on the clock with the default 600 s window: every one is still inside
    # its window at the end, but all were rewarded, so almost nothing may stay queued
    p = make_policy(spec, seed=0, secret=SECRET)
    stream = Stream(0)
    peak = 0
    for t in range(20_000):
        _, context, _ = stream.next()
        d = p.rank(context, make_actions(), now=1_000.0 + t / 1000.0)
        if t % 10:  # one in ten waits for its window to end
            p.reward(d.event_id, 1.0, now=1_000.0 + t / 1000.0)
        peak = max(peak, len(p._book.window.heap))
    assert p.pending_count == 2_000
    assert peak <= 2 * p.pending_count + 1024  # not 20,000
    assert p.expire(now=10_000.0) == 2_000 and len(p._book.window.heap) == 0


def test_text_caches_are_bounded_by_size_with_contexts_that_never_repeat(monkeypatch):
    budget = 200_000
    for cache in (vwformat._escaped, vwformat._namespace_text, bandit_features._namespace_json):
        monkeypatch.setattr(cache, "max_chars", budget)
        cache.clear()
    p = make_policy("vw", seed=0, secret=SECRET, log=None)
    for t in range(600):  # 2 KB of unique text per decision: 1.2 MB through the caches
        d = p.rank({"user": {"note": f"{t}-" + "x" * 2000}}, make_actions(), now=float(t))
        p.reward(d.event_id, 1.0, now=float(t))
    for cache in (vwformat._escaped, vwformat._namespace_text):
        held = sum(len(v) for v in cache.values())
        assert 0 < held <= budget and cache.chars <= budget


def test_namespaces_that_never_repeat_stop_filling_the_text_cache(monkeypatch):
    monkeypatch.setattr(vwformat, "_namespace_hits", {})
    vwformat._namespace_text.clear()
    for t in range(3000):
        line = vwformat.context_line({"profile": {"country": "US"}, "session": {"t": float(t)}})
        assert line == f"shared |c_profile country=US |c_session t:{float(t)}"
    lookups, hits = vwformat._namespace_hits["session"]
    assert hits == 0 and lookups == 3000
    cached = [key for key in vwformat._namespace_text if key[0] == "session"]
    assert len(cached) == vwformat._PROBE - 1  # probed, then left alone
    assert vwformat._namespace_hits["profile"][1] == 2999  # a repeating namespace keeps its cache


def _catalogue_traffic(policy, titles: int) -> list[list[float]]:
    """One title per decision, 8 variants each, ids never seen again after their title: the pmfs."""
    pmfs = []
    for t in range(titles):
        actions = [{"id": f"t{t}-v{j}", "features": {**a["features"]}} for j, a in enumerate(make_actions())]
        d = policy.rank({"user": {"segment": ("action", "kids")[t % 2]}}, actions, now=float(t))
        policy.reward(d.event_id, float(d.index == t % 3), now=float(t))
        pmfs.append(d.pmf)
    return pmfs


@pytest.mark.parametrize("spec", ["vw:squarecb", "vw:select"])
def test_parsed_action_examples_are_bounded_on_a_catalogue_of_many_variants(spec, monkeypatch):
    """A parsed VW example holds ~32 KB, so one per action id grew to gigabytes on a big catalogue:
    the cache keeps the most recently used ones, and a dropped one parsed again learns the same."""
    from bandit.policies import vw as vw_policy

    p = make_policy(spec, seed=0, secret=SECRET)
    _catalogue_traffic(p, 300)  # 2,400 action ids
    caches = p._caches if spec == "vw:select" else [p._examples_cache]
    assert all(len(c.actions) == vw_policy.ACTION_EXAMPLES for c in caches)  # 1,024, not 2,400
    # a tiny cache (re-parsing nearly every action) decides exactly as the full one
    monkeypatch.setattr(vw_policy, "ACTION_EXAMPLES", 3)  # read at every lookup
    small = make_policy(spec, seed=0, secret=SECRET)
    got = _catalogue_traffic(small, 200)
    assert all(len(c.actions) == 3 for c in (small._caches if spec == "vw:select" else [small._examples_cache]))
    monkeypatch.setattr(vw_policy, "ACTION_EXAMPLES", 100_000)
    expected = _catalogue_traffic(make_policy(spec, seed=0, secret=SECRET), 200)
    assert got == expected and max(max(pmf) for pmf in expected) > 0.5  # and it learned something
