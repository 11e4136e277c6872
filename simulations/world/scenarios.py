"""Scenarios: everything that defines a simulated audience, as named presets or a TOML/JSON file.

A scenario is plain data (no randomness); `Environment(scenario, seed)` turns it into viewers,
titles and click probabilities. Times given as fractions are fractions of the run's impressions,
so the same scenario works for a 10k smoke test and a 1M benchmark.

Config file (TOML or JSON): top-level keys are `Scenario` fields; `base = "<preset>"` starts from a
preset; `[[segments]]` tables (name, weight, tastes = {attribute = weight}, countries, devices,
genres) replace the preset's segments. Unknown keys are errors, not silently ignored.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulations.errors import SimulationError

# Taste attributes: named directions over image features. A viewer's hidden taste is a weight per
# attribute; weights act on standardised features, so they mean "logit change per catalogue sd".
ATTRIBUTES: dict[str, dict[str, float]] = {
    "faces": {"face_area": 1.0, "closeup": 1.0, "face_count": 0.5},
    "dark": {"brightness": -1.0, "contrast": 1.0},
    "warm": {"warmth": 1.0, "saturation": 0.5, "colourfulness": 0.5},
    "text": {"text_area": 1.0},
    "clean": {"clutter": -1.0, "sharpness": 0.5},
}

COUNTRIES = ("US", "GB", "DE", "FR", "BR", "IN", "JP", "MX")
DEVICES = ("tv", "mobile", "tablet", "web")
GENRES = ("drama", "comedy", "action", "horror", "family", "documentary")


@dataclass(frozen=True)
class Segment:
    """A group of viewers sharing tastes and (noisily) observable traits."""

    name: str
    weight: float
    tastes: dict[str, float]  # attribute -> weight (see ATTRIBUTES)
    countries: dict[str, float] = field(default_factory=dict)  # skew; unlisted = uniform rest
    devices: dict[str, float] = field(default_factory=dict)
    genres: dict[str, float] = field(default_factory=dict)  # viewing-history mix


DEFAULT_SEGMENTS: tuple[Segment, ...] = (
    Segment(
        "families",
        0.30,
        {"faces": 1.2, "warm": 1.0, "dark": -0.8, "text": -0.2},
        {"US": 3, "BR": 2, "MX": 2},
        {"tv": 4, "tablet": 2},
        {"family": 5, "comedy": 3},
    ),
    Segment(
        "thrill_seekers",
        0.25,
        {"dark": 1.4, "faces": -0.4, "warm": -0.7, "clean": 0.3},
        {"US": 2, "GB": 2, "DE": 2},
        {"tv": 2, "web": 2},
        {"horror": 5, "action": 4},
    ),
    Segment(
        "cinephiles",
        0.20,
        {"clean": 1.2, "text": -1.0, "faces": 0.5, "warm": -0.3},
        {"FR": 3, "DE": 2, "JP": 2},
        {"web": 3, "tv": 2},
        {"drama": 5, "documentary": 4},
    ),
    Segment(
        "casual_mobile",
        0.25,
        {"text": 1.3, "warm": 0.6, "clean": -0.6, "faces": 0.4},
        {"IN": 3, "BR": 2, "US": 1},
        {"mobile": 6},
        {"comedy": 4, "action": 3},
    ),
)


@dataclass(frozen=True)
class Scenario:
    """All knobs of a simulated audience and catalogue (see the README section `simulate`)."""

    name: str = "segments"
    description: str = "Tastes differ by segment; context hints at the segment."
    # catalogue
    titles: int = 12
    variants_per_title: int = 6
    genres: tuple[str, ...] = GENRES
    popularity_exponent: float = 0.8  # Zipf-like title popularity
    # audience
    users: int = 20_000
    segments: tuple[Segment, ...] = DEFAULT_SEGMENTS
    segment_noise: float = 0.25  # sd of individual taste deviations (same units as tastes)
    history_noise: float = 0.5  # how noisily a viewer's genre history reflects the segment mix
    # click model: logit = base_logit + affinity + taste_scale * taste . z(features) + bait
    base_logit: float = -2.6
    taste_scale: float = 0.8
    affinity_scale: float = 0.6
    # quality play: P(play | click) = sigmoid(play_logit + play_affinity * affinity - bait_penalty)
    play_logit: float = 0.4
    play_affinity: float = 1.0
    clickbait_per_title: int = 0
    clickbait_boost: float = 0.0  # logit added to the click of a clickbait variant
    clickbait_penalty: float = 0.0  # logit removed from P(play | click) of a clickbait variant
    # time
    impressions_per_s: float = 50.0  # simulated clock: impression t happens at t / rate seconds
    drift_at: float | None = None  # fraction of the run at which segment tastes rotate
    late_titles: int = 0  # titles that arrive at `arrive_at`
    late_variants: int = 0  # new variants added to each early title at `arrive_at`
    arrive_at: float = 0.5
    reward_delay_s: float = 0.0  # mean delay of a click's reward (exponential); 0 = immediate
    reward_wait_s: float = 0.0  # the policies' reward window (0 = learn on reward)
    # audit
    exposure_floor: float = 0.01  # shown less than this share of their title, beyond noise: "starved"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (for metrics.json and custom scenario files)."""
        return dataclasses.asdict(self)


PRESETS: dict[str, Scenario] = {
    "segments": Scenario(),
    "drift": Scenario(
        name="drift",
        description="Segment tastes rotate half-way through the run (families take on the "
        "thrill-seekers' taste, and so on): the policy must notice and re-learn.",
        drift_at=0.5,
    ),
    "cold-start": Scenario(
        name="cold-start",
        description="A third of the titles, and one new variant for every other title, arrive mid-run with no history.",
        titles=12,
        late_titles=4,
        late_variants=1,
        arrive_at=0.4,
    ),
    "clickbait": Scenario(
        name="clickbait",
        description="Every title has one clickbait variant: more clicks, far fewer quality plays. "
        "Optimising clicks picks it; optimising quality plays should not.",
        clickbait_per_title=1,
        clickbait_boost=1.0,
        clickbait_penalty=2.5,
    ),
    "delayed": Scenario(
        name="delayed",
        description="Clicks are rewarded after an exponential delay (mean 30 simulated seconds); "
        "impressions without a reward get the default reward when the 120 s window closes.",
        reward_delay_s=30.0,
        reward_wait_s=120.0,
    ),
}


def load_scenario(name_or_path: str | Path, **overrides: Any) -> Scenario:
    """A preset by name, or a scenario from a .toml/.json file; `overrides` replace fields.

    Bad names, unreadable files, unknown keys and out-of-range values raise SimulationError.
    """
    text = str(name_or_path)
    if text in PRESETS:
        scenario = PRESETS[text]
    else:
        path = Path(text)
        if path.suffix.lower() not in (".toml", ".json"):
            raise SimulationError(
                f"unknown scenario {text!r}: not a preset ({', '.join(PRESETS)}) nor a .toml/.json file"
            )
        scenario = _from_file(path)
    if overrides:
        scenario = _apply(scenario, overrides, source="overrides")
    _validate(scenario, source=text)
    return scenario


def _from_file(path: Path) -> Scenario:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SimulationError(f"cannot read scenario file {path}: {exc.strerror or exc}") from exc
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(raw.decode("utf-8"))
        else:
            data = json.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SimulationError(f"scenario file {path} is not valid {path.suffix[1:].upper()}: {exc}")
    if not isinstance(data, dict):
        raise SimulationError(f"scenario file {path}: expected a table/object at the top level")
    data = dict(data)
    base_name = data.pop("base", "segments")
    if base_name not in PRESETS:
        raise SimulationError(f"scenario file {path}: unknown base {base_name!r} (presets: {', '.join(PRESETS)})")
    data.setdefault("name", path.stem)
    return _apply(PRESETS[base_name], data, source=str(path))


def _apply(scenario: Scenario, data: dict[str, Any], *, source: str) -> Scenario:
    fields = {f.name: f for f in dataclasses.fields(Scenario)}
    changes: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            raise SimulationError(f"scenario {source}: unknown key {key!r} (valid: {', '.join(sorted(fields))})")
        if key == "segments":
            value = tuple(_segment(s, source) for s in _as_list(value, key, source))
        elif key == "genres":
            value = tuple(str(g) for g in _as_list(value, key, source))
        else:
            default = getattr(Scenario(), key)
            value = _coerce(value, default, key, source)
        changes[key] = value
    return dataclasses.replace(scenario, **changes)


def _as_list(value: Any, key: str, source: str) -> list[Any]:
    if not isinstance(value, (list, tuple)) or not value:
        raise SimulationError(f"scenario {source}: {key!r} must be a non-empty list")
    return list(value)


def _coerce(value: Any, default: Any, key: str, source: str) -> Any:
    if value is None and key == "drift_at":
        return None
    try:
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise TypeError
            return value
        if isinstance(default, int) and not isinstance(default, bool):
            if isinstance(value, bool) or float(value) != int(value):
                raise TypeError
            return int(value)
        if isinstance(default, float) or default is None:
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if isinstance(default, str):
            return str(value)
    except (TypeError, ValueError):
        pass
    else:
        return value
    kind = "a number" if isinstance(default, (int, float)) or default is None else type(default).__name__
    raise SimulationError(f"scenario {source}: {key!r} must be {kind}, got {value!r}")


def _segment(raw: Any, source: str) -> Segment:
    if isinstance(raw, Segment):
        return raw
    if not isinstance(raw, dict):
        raise SimulationError(f"scenario {source}: each segment must be a table/object")
    allowed = {f.name for f in dataclasses.fields(Segment)}
    unknown = set(raw) - allowed
    if unknown:
        raise SimulationError(f"scenario {source}: unknown segment key(s) {sorted(unknown)} (valid: {sorted(allowed)})")
    if "name" not in raw or "tastes" not in raw:
        raise SimulationError(f"scenario {source}: a segment needs 'name' and 'tastes'")
    try:
        tastes = {str(k): float(v) for k, v in dict(raw["tastes"]).items()}
        seg = Segment(
            name=str(raw["name"]),
            weight=float(raw.get("weight", 1.0)),
            tastes=tastes,
            countries={str(k): float(v) for k, v in dict(raw.get("countries", {})).items()},
            devices={str(k): float(v) for k, v in dict(raw.get("devices", {})).items()},
            genres={str(k): float(v) for k, v in dict(raw.get("genres", {})).items()},
        )
    except (TypeError, ValueError) as exc:
        raise SimulationError(f"scenario {source}: bad segment {raw.get('name')!r}: {exc}") from exc
    bad = set(tastes) - set(ATTRIBUTES)
    if bad:
        raise SimulationError(
            f"scenario {source}: segment {seg.name!r} has unknown taste attribute(s) {sorted(bad)} "
            f"(valid: {', '.join(ATTRIBUTES)})"
        )
    return seg


def _validate(s: Scenario, *, source: str) -> None:
    def need(ok: bool, what: str) -> None:
        if not ok:
            raise SimulationError(f"scenario {source}: {what}")

    need(s.titles >= 1, "titles must be >= 1")
    need(2 <= s.variants_per_title <= 64, "variants_per_title must be between 2 and 64")
    need(s.users >= 1, "users must be >= 1")
    need(len(s.segments) >= 1, "at least one segment is needed")
    need(len({seg.name for seg in s.segments}) == len(s.segments), "segment names must be unique")
    need(all(seg.weight > 0 for seg in s.segments), "segment weights must be > 0")
    need(len(s.genres) >= 1, "at least one genre is needed")
    need(s.impressions_per_s > 0, "impressions_per_s must be > 0")
    need(s.drift_at is None or 0.0 < s.drift_at < 1.0, "drift_at must be between 0 and 1")
    need(0.0 < s.arrive_at < 1.0, "arrive_at must be between 0 and 1")
    need(0 <= s.late_titles < s.titles, "late_titles must be >= 0 and < titles")
    need(s.late_variants >= 0, "late_variants must be >= 0")
    need(0 <= s.clickbait_per_title < s.variants_per_title, "clickbait_per_title must be < variants_per_title")
    need(s.reward_delay_s >= 0 and s.reward_wait_s >= 0, "reward_delay_s/reward_wait_s must be >= 0")
    need(
        s.reward_delay_s == 0 or s.reward_wait_s > 0,
        "reward_delay_s > 0 needs a reward window: set reward_wait_s > 0",
    )
    need(0.0 <= s.exposure_floor < 1.0, "exposure_floor must be in [0, 1)")
    need(s.segment_noise >= 0 and s.history_noise >= 0, "noise levels must be >= 0")
