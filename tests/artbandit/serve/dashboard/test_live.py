"""The dashboard's live counts (artbandit/serve/dashboard/live.py): what the learner hands the rankers."""

from __future__ import annotations

import orjson

from artbandit.serve.dashboard.live import PUBLISHED_MINUTES, LiveStats


def _filled() -> LiveStats:
    stats = LiveStats()
    for minute in range(PUBLISHED_MINUTES + 5):
        stats.decided(3, now=60.0 * minute)
        stats.rewarded(2, now=60.0 * minute + 1)
        b = stats._minute(60.0 * minute)
        for r in (1.0, 0.0, 1.0):
            b.live.add(r)
            b.baseline.add(r * 2)
            b.uniform.add(r / 4)
    stats.actions.update({"a0": [5, 9, 3.0], "a1": [4, 9, 1.0]})
    stats._segment('{"user":{"segment":"kids"}}', "a0", 1.0)
    stats._segment('{"user":{"segment":"kids"}}', "a1", 0.0)
    stats.drift.append({"t": 1.0, "statistic": 7.5, "eventId": "e1"})
    return stats


def test_a_rankers_copy_reads_exactly_what_the_learner_counted():
    learner = _filled()
    published = orjson.dumps(learner.to_json())
    calls = []
    ranker = LiveStats(source=lambda: calls.append(1) or published)
    assert ranker.minutes() == learner.minutes() and len(ranker.minutes()) == PUBLISHED_MINUTES
    assert ranker.action("a0") == learner.action("a0") == (5, 9, 3.0)
    assert ranker.segment_counts(["a0", "a1"]) == learner.segment_counts(["a0", "a1"])
    assert ranker.segment_counts(["a0"]) == [(("user", "segment", "kids"), {"a0": (1, 1.0)})]
    assert ranker.drift == learner.drift
    assert len(calls) == 1  # read again at most once a second, not at every call
    broken = LiveStats(source=lambda: b"{not json")
    assert broken.minutes() == [] and broken.action("a0") == (0, 0, 0.0)  # a damaged copy: nothing, no error
    assert len(published) < 64_000  # 120 minutes, two actions, one segment
