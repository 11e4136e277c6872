"""`artbandit log export`, `artbandit train`, `artbandit rank`: the bandit library from the shell."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from artbandit.cli.common import progress_bar as progress, quiet_option, say

# The library's own names, from a module with no imports: `artbandit --help` loads no VW or numpy.
from bandit.choices import COSTS, EXPORT_FORMATS, TRAIN_EXPLORATIONS


@click.group()
def log() -> None:
    """Work with an artbandit event log (SQLite)."""


@log.command("export")
@click.argument("events", type=click.Path(dir_okay=False, path_type=str))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(EXPORT_FORMATS),
    default="dsjson",
    show_default=True,
    help="dsjson: VW decision-service JSON (cb_explore_adf, cost = -reward); csv/jsonl: every "
    "logged field, nested values as JSON; parquet: the CSV's columns, each candidate set's "
    "actions stored once (needs -o).",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=str),
    default=None,
    help="Output file, written atomically and owner-only (default: stdout).",
)
@click.option(
    "--costs",
    type=click.Choice(COSTS),
    default="reward",
    show_default=True,
    help="DSJSON _label_cost: reward = -reward (the decision service's convention); vw = 1 - reward "
    "scaled by --reward-range, the cost artbandit's VW model learns (vw --dsjson then learns the "
    "same model).",
)
@click.option(
    "--reward-range",
    nargs=2,
    type=float,
    default=(0.0, 1.0),
    show_default=True,
    help="Range of the logged rewards (for --costs vw).",
)
@quiet_option
def export(events: str, fmt: str, out: str | None, costs: str, reward_range: tuple[float, float], quiet: bool) -> None:
    """Export every decision in EVENTS as DSJSON, CSV, JSON lines or Parquet."""
    from bandit.log.eventlog import EventLog

    with EventLog(events, readonly=True) as source:
        n = source.export(out if out else sys.stdout, fmt, costs=costs, reward_range=reward_range)
    say(f"exported {n} events from {events} as {fmt}" + (f" to {out}" if out else ""), quiet)


@click.command()
@click.argument("events", type=click.Path(dir_okay=False, path_type=str))
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=str),
    help="Model folder to write (the VW model files + metadata.json), replaced atomically.",
)
@click.option(
    "--init",
    "init",
    type=click.Path(file_okay=False, path_type=str),
    default=None,
    help="Continue from this saved model instead of starting fresh.",
)
@click.option(
    "--exploration",
    type=click.Choice(TRAIN_EXPLORATIONS),
    default="select",
    show_default=True,
    help="VW's exploration; 'select': squarecb choosing its interactions online (vw:select).",
)
@click.option(
    "--min-probability",
    type=click.FloatRange(0.0, 1.0, max_open=True),
    default=0.01,
    show_default=True,
    help="Probability floor of every action when the model ranks.",
)
@click.option(
    "--reward-range", nargs=2, type=float, default=(0.0, 1.0), show_default=True, help="Range of the logged rewards."
)
@click.option("--passes", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@quiet_option
def train(
    events: str,
    out: str,
    init: str | None,
    exploration: str,
    min_probability: float,
    reward_range: tuple[float, float],
    passes: int,
    seed: int,
    quiet: bool,
) -> None:
    """Warm start: train a VW personalizer off-policy from the rewarded events in EVENTS, using
    the logged probabilities, and save it to --out."""
    from bandit.log.eventlog import EventLog
    from bandit.policies.personalizer import Personalizer
    from bandit.policies.specs import load_saved_policy
    from bandit.policies.vw import VWPolicy
    from bandit.policies.warmstart import learn_from_events

    if init:
        policy = load_saved_policy(init, min_probability=min_probability, reward_range=reward_range)
    elif exploration == "select":
        policy = Personalizer(min_probability=min_probability, reward_range=reward_range, seed=seed)
    else:
        policy = VWPolicy(exploration, min_probability=min_probability, reward_range=reward_range, seed=seed)
    learned = skipped = 0
    with EventLog(events, readonly=True) as source:
        total = len(source)
        with progress(length=total * passes, label="training", quiet=quiet) as bar:
            for _ in range(passes):
                n, s = learn_from_events(policy, source.iter_events(), lambda _e: bar.update(1))
                learned += n
                skipped += s
    if learned == 0:
        raise click.ClickException(f"{events}: no rewarded events to learn from ({total} events)")
    policy.save(out)
    say(f"learned {learned} events ({skipped} without reward skipped) from {events}; saved {out}", quiet)


def _read_json(path: str, what: str) -> Any:
    from bandit.errors import BanditError

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text("utf-8")
        return json.loads(text)
    except FileNotFoundError:
        raise BanditError(f"{path}: no such {what} file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BanditError(f"{path}: not valid JSON ({exc})") from None


def load_actions(path: str) -> list[dict]:
    """Actions from a JSON list of {"id", "features"}, {"actions": [...]}, or a variants.json."""
    from bandit.errors import BanditError

    data = _read_json(path, "actions")
    if isinstance(data, dict):
        data = data.get("actions", data.get("variants"))
    if not isinstance(data, list) or not data:
        raise BanditError(f"{path}: expected a non-empty list of actions (or a variants.json)")
    actions = []
    for i, item in enumerate(data):
        if not isinstance(item, dict) or "id" not in item:
            raise BanditError(f"{path}: action #{i} has no 'id'")
        feats = item.get("features", {})
        if not isinstance(feats, dict):
            raise BanditError(f"{path}: action {item['id']!r} has non-object 'features'")
        actions.append({"id": str(item["id"]), "features": feats})
    return actions


def load_context(path: str) -> dict:
    """A context: {namespace: {feature: number or string}}."""
    from bandit.errors import BanditError

    data = _read_json(path, "context")
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise BanditError(f"{path}: context must be an object of namespace -> {{feature: value}}")
    return data


def unseen_context_features(seen: dict[str, list[str]], context: dict, allow: Any = None) -> list[str]:
    """'namespace.feature' of the context that the model never saw in a ranked context (none if it saw none)."""
    if not seen:
        return []
    return [
        f"{ns}.{name}"
        for ns, feats in context.items()
        if allow is None or ns in allow
        for name in feats
        if name not in seen.get(ns, ())
    ]


@click.command()
@click.argument("model", type=click.Path(file_okay=False, path_type=str))
@click.option(
    "--context",
    "context_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=str),
    help="JSON object namespace -> {feature: value} ('-' for stdin).",
)
@click.option(
    "--actions",
    "actions_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=str),
    help="JSON list of {id, features}, or a variants.json from `artbandit variants`.",
)
@click.option("--user-id", default=None, help="Viewer id (stored only as a keyed hash, with --log).")
@click.option(
    "--log",
    "log_path",
    type=click.Path(dir_okay=False, path_type=str),
    default=None,
    help="Append the decision to this SQLite event log.",
)
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Seed for the sampled action and event id (default: fresh randomness each run).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
def rank(
    model: str,
    context_file: str,
    actions_file: str,
    user_id: str | None,
    log_path: str | None,
    seed: int | None,
    as_json: bool,
) -> None:
    """Rank --actions for --context with a saved MODEL: the chosen action, its probability, the pmf."""
    from bandit.policies.specs import load_saved_policy

    context = load_context(context_file)
    actions = load_actions(actions_file)
    # a one-shot rank: nothing waits for a reward here, so the log's pending events are not claimed
    policy = load_saved_policy(model, log=log_path, reward_wait_s=float("inf"), recover=False)
    policy.reseed(seed)
    unseen = unseen_context_features(policy.feature_schema()["context"], context, policy.context_allowlist)
    if unseen:
        say(
            f"warning: the model never saw context feature{'s' if len(unseen) > 1 else ''} "
            f"{', '.join(unseen)}: no learned weight, so {'they do' if len(unseen) > 1 else 'it does'} "
            "not change this ranking"
        )
    try:
        d = policy.rank(context, actions, user_id=user_id)
    finally:
        policy.close()
    if as_json:
        from bandit.service.wire import rank_answer  # Personalizer's body, as the service answers

        click.echo(json.dumps(rank_answer(d)))
        return
    click.echo(f"chosen: {d.action_id} (p={d.probability:.3f}, event {d.event_id})")
    for pos, (aid, p) in enumerate(d.ranking, 1):
        click.echo(f"{pos:>3}. {aid:<24} {p:.3f}")
