"""The simulated title set: titles with genres and artwork variants described by image features
(the simulator's own; the real catalogue is what `artbandit catalog` builds, artbandit.jobs).

Variant features are either real (one `artbandit variants` output folder per title: its
variants.json `features` become the bandit's action features) or generated from archetypes
(close-up faces, dark/high-contrast, warm, typographic, wide, clean, clickbait) over exactly the
feature names `imaging.features.FEATURE_NAMES`, so a policy trained in simulation sees the same
kind of actions as in production. Image features are never computed here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from imaging.features import FEATURE_NAMES
from simulations.errors import SimulationError
from simulations.world.scenarios import Scenario

VARIANTS_SCHEMA = "artbandit.variants/1"

# Archetype -> mean of selected features (others use _BASE). Chosen so that each taste attribute
# (see scenarios.ATTRIBUTES) has at least one archetype that scores high on it.
_BASE: dict[str, float] = {
    "brightness": 0.5,
    "contrast": 0.4,
    "saturation": 0.45,
    "colourfulness": 0.4,
    "warmth": 0.5,
    "sharpness": 0.5,
    "face_area": 0.03,
    "text_area": 0.08,
    "clutter": 0.35,
}
ARCHETYPES: dict[str, dict[str, float]] = {
    "closeup": {"face_area": 0.18, "contrast": 0.45, "warmth": 0.56, "clutter": 0.3},
    "dark": {"brightness": 0.2, "contrast": 0.65, "saturation": 0.3, "warmth": 0.42, "face_area": 0.02},
    "warm": {"warmth": 0.72, "saturation": 0.65, "colourfulness": 0.62, "brightness": 0.62},
    "typographic": {"text_area": 0.32, "clutter": 0.45, "brightness": 0.55, "face_area": 0.02},
    "wide": {"face_area": 0.005, "clutter": 0.62, "sharpness": 0.6, "saturation": 0.4},
    "clean": {"clutter": 0.1, "sharpness": 0.72, "saturation": 0.35, "text_area": 0.02},
}
CLICKBAIT = {
    "face_area": 0.22,
    "saturation": 0.85,
    "colourfulness": 0.8,
    "text_area": 0.35,
    "contrast": 0.62,
    "brightness": 0.62,
    "warmth": 0.6,
}


@dataclass
class Variant:
    """One artwork variant of a title."""

    id: str  # unique across the catalogue ("<title>/<variant>"), used as the bandit action id
    features: dict[str, float]
    archetype: str = "real"
    clickbait: bool = False
    arrive: float = 0.0  # fraction of the run at which it becomes available
    file: Path | None = None  # image, when built from a variants folder


@dataclass
class Title:
    """A title and its artwork; variants are ordered by arrival (available ones are a prefix)."""

    id: str
    genre: str
    variants: list[Variant]
    arrive: float = 0.0


@dataclass
class TitleSet:
    """The titles a simulated audience is shown, with their variants' feature names."""

    titles: list[Title]
    feature_names: tuple[str, ...]
    real: bool = False
    sources: list[str] = field(default_factory=list)

    @property
    def max_variants(self) -> int:
        return max(len(t.variants) for t in self.titles)


def _beta(rng: np.random.Generator, mean: float, conc: float = 14.0) -> float:
    mean = min(max(mean, 0.02), 0.98)
    return float(rng.beta(mean * conc, (1.0 - mean) * conc))


def generated_features(rng: np.random.Generator, archetype: str) -> dict[str, float]:
    """Plausible image features for a variant of the given archetype, in FEATURE_NAMES order."""
    means = dict(_BASE)
    means.update(CLICKBAIT if archetype == "clickbait" else ARCHETYPES[archetype])
    out: dict[str, float] = {}
    face_area = min(_beta(rng, means["face_area"], 8.0), 0.6)
    has_face = face_area >= 0.008
    saturation = _beta(rng, means["saturation"])
    warmth = _beta(rng, means["warmth"], 30.0)
    hue_alpha = np.full(6, 0.8)
    if warmth > 0.55:
        hue_alpha[:2] += 2.0  # red, yellow
    elif warmth < 0.45:
        hue_alpha[3:5] += 2.0  # cyan, blue
    hues = rng.dirichlet(hue_alpha) * saturation * 0.7
    edges = rng.uniform(0.3, 0.8)
    edge_split = rng.beta(3, 3)
    special = {
        "face_area": face_area if has_face else 0.0,
        "closeup": 1.0 if face_area >= 0.04 else 0.0,
        "face_count": (rng.integers(1, 5) / 4.0) if has_face else 0.0,
        "face_dx": float(rng.uniform(-0.25, 0.25)) if has_face else 0.0,
        "face_dy": float(rng.uniform(-0.25, 0.1)) if has_face else 0.0,
        "saturation": saturation,
        "warmth": warmth,
        "edges_h": edges * edge_split,
        "edges_v": edges * (1.0 - edge_split),
        **{f"hue_{h}": float(v) for h, v in zip(("red", "yellow", "green", "cyan", "blue", "magenta"), hues)},
    }
    for name in FEATURE_NAMES:
        if name in special:
            out[name] = float(special[name])
        elif name in means:
            out[name] = _beta(rng, means[name])
        else:  # a feature this generator does not know yet: neutral, uninformative
            out[name] = _beta(rng, 0.5, 4.0)
    return out


def generate_titleset(scenario: Scenario, rng: np.random.Generator) -> TitleSet:
    """Titles with archetype-diverse variants; late titles/variants and clickbait per the scenario."""
    archetypes = list(ARCHETYPES)
    titles: list[Title] = []
    n_early = scenario.titles - scenario.late_titles
    for ti in range(scenario.titles):
        tid = f"t{ti:03d}"
        genre = scenario.genres[int(rng.integers(len(scenario.genres)))]
        late_title = ti >= n_early
        k = scenario.variants_per_title + (0 if late_title else scenario.late_variants)
        # keep every title diverse: cycle through a shuffled archetype list
        order = list(rng.permutation(len(archetypes)))
        kinds = [archetypes[order[j % len(archetypes)]] for j in range(k)]
        n_bait = scenario.clickbait_per_title
        for j in range(n_bait):
            kinds[-1 - j] = "clickbait"
        variants = []
        for j, kind in enumerate(kinds):
            arrive = scenario.arrive_at if (late_title or j >= scenario.variants_per_title) else 0.0
            variants.append(
                Variant(
                    id=f"{tid}/v{j}",
                    features=generated_features(rng, kind),
                    archetype=kind,
                    clickbait=kind == "clickbait",
                    arrive=arrive,
                )
            )
        # late variants at the end keeps "available = prefix"; clickbait position is then shuffled
        early = [v for v in variants if v.arrive == 0.0]
        late = [v for v in variants if v.arrive > 0.0]
        early = [early[i] for i in rng.permutation(len(early))]
        titles.append(Title(tid, genre, early + late, scenario.arrive_at if late_title else 0.0))
    return TitleSet(titles, tuple(FEATURE_NAMES))


def load_variant_dirs(dirs: Sequence[str | Path], scenario: Scenario, rng: np.random.Generator) -> TitleSet:
    """One title per `artbandit variants` output folder; its variants.json features are the actions.

    Clickbait and late arrivals are assigned by the scenario (hidden properties of the simulation);
    a title's genre is its manifest's `genre` when that is one of the scenario's genres (a catalogue
    index gives it), else drawn at random (a variants folder carries none).
    """
    if not dirs:
        raise SimulationError("no variants folders given")
    titles: list[Title] = []
    names: set[str] | None = None
    seen: set[str] = set()
    n_early = len(dirs) - min(scenario.late_titles, len(dirs) - 1)
    for ti, d in enumerate(dirs):
        folder = Path(d)
        if not folder.exists():
            raise SimulationError(f"{folder}: no such variants folder")
        manifest = folder / "variants.json" if folder.is_dir() else folder
        folder = manifest.parent
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SimulationError(f"{folder}: no variants.json (expected an `artbandit variants` output folder)")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SimulationError(f"{manifest}: cannot read variants manifest: {exc}") from exc
        if not isinstance(data, dict) or data.get("schema") != VARIANTS_SCHEMA:
            raise SimulationError(
                f"{manifest}: schema {data.get('schema') if isinstance(data, dict) else None!r} "
                f"is not {VARIANTS_SCHEMA!r}"
            )
        raw = data.get("variants")
        if not isinstance(raw, list) or len(raw) < 2:
            raise SimulationError(f"{manifest}: needs at least 2 variants to choose between")
        base = re.sub(r"[^A-Za-z0-9_.-]+", "_", folder.resolve().name) or f"title{ti}"
        tid, n = base, 1
        while tid in seen:
            n += 1
            tid = f"{base}_{n}"
        seen.add(tid)
        late_title = ti >= n_early
        variants: list[Variant] = []
        for j, v in enumerate(raw):
            feats = v.get("features") if isinstance(v, dict) else None
            if not isinstance(feats, dict) or not feats:
                raise SimulationError(f"{manifest}: variant {j} has no features")
            try:
                feats = {str(k): float(x) for k, x in feats.items()}
            except (TypeError, ValueError) as exc:
                raise SimulationError(f"{manifest}: variant {j} has a non-numeric feature") from exc
            names = set(feats) if names is None else names & set(feats)
            vid = str(v.get("id", j))
            file = folder / v["file"] if isinstance(v.get("file"), str) else None
            variants.append(Variant(id=f"{tid}/{vid}", features=feats, file=file))
        if len({v.id for v in variants}) != len(variants):
            raise SimulationError(f"{manifest}: variant ids are not unique")
        k_late = min(scenario.late_variants, len(variants) - 2) if not late_title else 0
        for v in variants[len(variants) - k_late :] if k_late else []:
            v.arrive = scenario.arrive_at
        if scenario.clickbait_per_title:
            early_idx = list(range(len(variants) - k_late))
            n_bait = min(scenario.clickbait_per_title, len(early_idx) - 1)
            for j in rng.choice(early_idx, size=n_bait, replace=False):
                variants[int(j)].clickbait = True
        genre = scenario.genres[int(rng.integers(len(scenario.genres)))]  # drawn always: same stream either way
        if data.get("genre") in scenario.genres:
            genre = data["genre"]
        titles.append(Title(tid, genre, variants, scenario.arrive_at if late_title else 0.0))
        for v in variants:
            if late_title:
                v.arrive = scenario.arrive_at
    assert names is not None
    if not names:
        raise SimulationError("the variants folders share no feature names")
    ordered = tuple(n for n in FEATURE_NAMES if n in names) + tuple(sorted(names - set(FEATURE_NAMES)))
    for t in titles:  # same action features everywhere so the policies see one schema
        for v in t.variants:
            v.features = {n: v.features[n] for n in ordered}
    return TitleSet(titles, ordered, real=True, sources=[str(Path(d)) for d in dirs])
