"""The README's library example runs as written and leaves a complete log."""

from __future__ import annotations

import re
from pathlib import Path

from bandit import EventLog

README = Path(__file__).resolve().parents[1] / "README.md"


def _example() -> str:
    text = README.read_text("utf-8")
    marker = text.index("tests/test_readme.py runs this block")
    match = re.compile(r"```python\n(.*?)```", re.S).search(text, marker)
    assert match, "the README lost its library example"
    return match.group(1)


def test_readme_library_example_runs_as_written_and_logs_decision_propensity_reward(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ARTBANDIT_SECRET", raising=False)
    monkeypatch.setenv("ARTBANDIT_SECRET_FILE", str(tmp_path / "secret.key"))
    code = _example()
    assert 'with make_policy("vw", log="events.sqlite") as p:' in code  # the default policy
    scope: dict = {"__name__": "__readme__"}
    exec(compile(code, str(README), "exec"), scope)  # noqa: S102 - the README's own code
    d = scope["d"]
    (event,) = EventLog(tmp_path / "events.sqlite", readonly=True).iter_events()
    assert event.event_id == d.event_id and event.action_id == d.action_id
    assert event.probability == d.probability == event.pmf[event.chosen_index]
    assert event.action_ids == [a["id"] for a in scope["actions"]]
    assert event.reward == 1.0 and not event.defaulted and event.policy == "vw:select"
    assert event.user and "u-123" not in event.user
    assert event.context == {"user": {"country": "US", "device": "tv"}, "history": {"drama": 0.8}}
