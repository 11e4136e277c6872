"""From the frames the shot tracker held to the video's K candidates: a short list, finalists judged
(bars, faces, an editor's reading), the final K by score and diversity, look-alike fill-ins.

After the pass (imaging.shots.tracker): the video's bars are measured at full resolution on the held
frames (imaging.analysis.bars), a short list of 2K + 2 is chosen (best rank first, one per shot first, no
identical frames: imaging.candidates.diverse), converted to RGB; faces are detected on the whole frame (and
confirmed by a second cascade: imaging.analysis.faces.confirm_faces), the frame is cropped to its shot's
bars but never into a face (imaging.analysis.bars.keep_faces), and an editor's reading is taken
(imaging.analysis.appeal: open eyes, subject sharpness and clarity, blockiness). Finalists with a flaw
(eyes_closed, subject_blurred, smeared, blocky) are rejected; the final K are chosen by score with maximal
marginal relevance and the structural duplicate test (imaging.analysis.likeness); if fewer than `min_count`
distinct pictures exist, other usable moments fill in, marked `look_alike` (issue 26's count rule).

    score = (1 - FACE_WEIGHT) rank + FACE_WEIGHT face + appeal bonus (- BRIEF_PENALTY for flash-short shots)
    face  = min(1, sqrt(face area share / 0.05)),  rank = quality less the transient/smear penalties
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from imaging.analysis.appeal import BLOCKY, Appeal, judge, judge_damage, judge_eyes
from imaging.analysis.bars import detect_bars, keep_faces
from imaging.analysis.faces import Box, confirm_faces, detect_faces, to_gray
from imaging.analysis.frame_metrics import difference
from imaging.analysis.likeness import LOOK_ALIKE, likeness as likeness_of, look_alike, structure
from imaging.candidates.diverse import top_k_diverse
from imaging.candidates.manifest import Candidate, CandidateSet
from imaging.errors import ImagingError
from imaging.shots.tracker import SAME_FRAME, SMEAR_REJECT, FrameRecord, ShotTracker

FACE_WEIGHT = 0.15
# Haar runs on a copy this wide (cost grows with pixels; thumbnail-worthy faces are large anyway)
FACE_WIDTH = {"quick": 320, "default": 480, "thorough": 640}
FACE_FULL_AREA = 0.05  # a face covering 5% of the frame earns the whole face bonus
# maximal marginal relevance: a pick loses this much per unit of likeness to the closest one already
# picked, so a set-up not yet shown beats another moment of one shown (likeness ~0.6) unless it
# scores ~0.2 less (tests/imaging/candidates/test_finalists.py's A-B-A edit: the cyclist, 0.40,
# before the bike by the wall again, 0.54 at likeness 0.68; at 0.3 it was the other way round)
DIVERSITY = 0.4
SIG_APART = 0.08  # signature difference from which two held frames count as wholly different moments
POOR_SCORE = 0.3
# shots shorter than this (flash cuts, the tail of a shot cut short) are transitional: their frames
# lose BRIEF_PENALTY, so they are picked only when longer shots have nothing distinct left
BRIEF_SHOT_S = 0.5
BRIEF_PENALTY = 0.15  # a best candidate under this score gets a warning: the clip offers poor thumbnails


def _median(values: list[float]) -> float:
    """`float(np.median(values))` of a few finite floats, bit for bit (the middle one, or the mean
    of the middle two as (a + b) / 2): np.median's NaN check imports numpy.ma (~8 ms) on first use."""
    v = sorted(values)
    m = len(v) // 2
    return float(v[m]) if len(v) % 2 else (float(v[m - 1]) + float(v[m])) / 2


def pick_candidates(
    tracker: ShotTracker, *, min_count: int | None = None, likeness: float = LOOK_ALIKE
) -> CandidateSet:
    """K diverse, good candidates from what the tracker holds (see the module docstring).

    `likeness`: structural likeness (imaging.analysis.likeness) from which two frames count as one picture.
    `min_count` (default K): when fewer than that many distinct pictures exist, further usable
    frames from other moments fill the set (most different first), each marked `look_alike` in
    the manifest; frames with an editor's flaw (imaging.analysis.appeal) never fill.
    """
    return _Picker(tracker, tracker.k if min_count is None else min(min_count, tracker.k), likeness).result()


@dataclass
class _Finalist:
    score: float
    rec: FrameRecord
    image: np.ndarray
    faces: list[Box]
    crop: tuple[int, int, int, int]
    structure: np.ndarray
    appeal: Appeal
    look_alike: int | None = None  # id() of the finalist it resembles (a fill-in)


class _Picker:
    def __init__(self, tracker: ShotTracker, min_count: int, likeness: float):
        self.t = tracker
        self.info, self.k, self.mode = tracker.info, tracker.k, tracker.mode
        self.min_count, self.likeness = min_count, likeness

    def result(self) -> CandidateSet:
        info = self.info
        held = [r for recs in self.t.pool.values() for r in recs]
        if not held:
            reasons = ", ".join(f"{n} {r}" for r, n in self.t.rejected.most_common()) or "none"
            raise ImagingError(f"{info.path}: no usable frames among {self.t.decoded} decoded (rejected: {reasons})")
        crop = self._content_crop(held)
        # a short list, about twice K: the appeal tests and the structural duplicate test drop some
        # (spread over moments: the same marginal relevance on signatures, which need no RGB)
        short = top_k_diverse(
            held,
            2 * self.k + 2,
            score=lambda r: r.rank,
            shot=lambda r: r.shot,
            sig=lambda r: r.sig,
            duplicate=SAME_FRAME,
            diversity=DIVERSITY,
            likeness=lambda a, b: max(0.0, 1.0 - difference(a.sig, b.sig) / SIG_APART),
        )
        finalists = [self._finalist(rec, crop) for rec in short]
        for f in finalists:
            if f.rec.smear >= SMEAR_REJECT:
                f.appeal.flaws.append("smeared")
        judge_eyes([f.appeal for f in finalists])
        judge_damage([f.appeal for f in finalists])
        rejected = [f for f in finalists if f.appeal.flaws]
        for f in rejected:
            for flaw in f.appeal.flaws:
                self.t.rejected[flaw] += 1
        usable = [f for f in finalists if not f.appeal.flaws]
        final = top_k_diverse(
            usable,
            self.k,
            score=lambda f: f.score,
            shot=lambda f: f.rec.shot,
            sig=lambda f: f.rec.sig,
            similar=lambda a, b: look_alike(a.structure, b.structure, self.likeness),
            likeness=lambda a, b: likeness_of(a.structure, b.structure),
            diversity=DIVERSITY,
        )
        distinct = len(final)
        final = self._fill(final, usable)
        from imaging.features import image_features  # H2's module; imported late to keep startup cheap

        final.sort(key=lambda f: -f.score)
        ids = {id(f): f"c{rank:02d}" for rank, f in enumerate(final, 1)}
        candidates = []
        for f in final:
            metrics = f.rec.metrics.to_dict()
            metrics["atypical"] = round(float(f.rec.atypical), 3)
            metrics["smear"] = round(float(f.rec.smear), 3)
            metrics.update(f.appeal.metrics())
            like = None
            if f.look_alike is not None:
                like = ids[f.look_alike]
            candidates.append(
                Candidate(
                    id=ids[id(f)],
                    frame=f.rec.index,
                    time_s=f.rec.time_s,
                    shot=f.rec.shot,
                    score=f.score,
                    image=f.image,
                    crop=f.crop,
                    faces=f.faces,
                    metrics=metrics,
                    features=image_features(f.image, f.faces),
                    look_alike=like,
                )
            )
        for recs in self.t.pool.values():  # let the decoder's buffers go
            for r in recs:
                r.frame = None
        stats = {
            "decoded_frames": self.t.decoded,
            "shots": len(self.t.shots),
            "rejected": dict(sorted(self.t.rejected.items())),
            "distinct": distinct,
        }
        warnings = []
        if len(candidates) < self.k:
            why = self._empty_reason(len(candidates), distinct, len(held), rejected)
            stats["empty_slots"] = {"count": self.k - len(candidates), "reason": why}
            warnings.append(f"{info.path}: only {len(candidates)} of {self.k} candidates: {why}")
        elif distinct < len(candidates):
            warnings.append(
                f"{info.path}: only {distinct} distinct pictures; {len(candidates) - distinct} "
                f"candidate(s) from other moments look alike (see look_alike)"
            )
        blocky = _median([f.appeal.blockiness for f in final]) if final else 1.0
        if blocky >= BLOCKY:
            warnings.append(
                f"{info.path}: the picture is damaged (compression blocks: {blocky:.2f} "
                f"times the usual step across 8 px block edges): every candidate shows it"
            )
        if candidates and candidates[0].score < POOR_SCORE:
            warnings.append(
                f"{info.path}: the best candidate scores {candidates[0].score:.2f} (under "
                f"{POOR_SCORE}): this clip offers poor thumbnails (dark, soft or flat)"
            )
        return CandidateSet(info, self.mode, self.t.shots, candidates, crop, stats, warnings, self.k)

    def _finalist(self, rec: FrameRecord, video_crop: tuple[int, int, int, int]) -> _Finalist:
        rgb = rec.held.to_rgb()
        # one grey copy serves every reading that needs grey (faces, eyes, saliency, sharpness,
        # structure): each converted the full-resolution RGB again (per pixel the same values)
        grey_full = to_gray(rgb)
        # faces are found on the whole frame, so the bars' crop can be kept off them
        faces_full = confirm_faces(grey_full, detect_faces(grey_full, max_width=FACE_WIDTH[self.mode]))
        x0, y0, x1, y1 = keep_faces(self._frame_crop(rec, video_crop), faces_full, rgb.shape)
        image = np.ascontiguousarray(rgb[y0:y1, x0:x1])
        grey = np.ascontiguousarray(grey_full[y0:y1, x0:x1])
        faces = [Box(b.x - x0, b.y - y0, b.w, b.h) for b in faces_full]
        area = faces[0].area / float(image.shape[0] * image.shape[1]) if faces else 0.0
        face_term = min(1.0, math.sqrt(area / FACE_FULL_AREA)) if faces else 0.0
        appeal = judge(grey, faces, rec.held.luma())
        if appeal.eyes is not None:  # a face big enough to judge earns its bonus by its open eyes
            face_term *= appeal.eyes / 2.0
        score = (1 - FACE_WEIGHT) * rec.rank + FACE_WEIGHT * face_term + appeal.bonus
        shot = self.t.shots[rec.shot] if 0 <= rec.shot < len(self.t.shots) else None
        if shot is not None and shot.end_s - shot.start_s < BRIEF_SHOT_S:
            score -= BRIEF_PENALTY
        return _Finalist(float(min(1.0, max(0.0, score))), rec, image, faces, (x0, y0, x1, y1), structure(grey), appeal)

    def _fill(self, final: list[_Finalist], usable: list[_Finalist]) -> list[_Finalist]:
        """Up to min_count: add the usable frames least like any picked one (other moments)."""
        rest = [f for f in usable if not any(f is p for p in final)]
        while len(final) < self.min_count and rest:

            def closest(f: _Finalist) -> tuple[float, _Finalist | None]:
                scores = [(likeness_of(f.structure, p.structure), p) for p in final]
                return max(scores, key=lambda t: t[0]) if scores else (0.0, None)

            ranked = [
                (closest(f), f) for f in rest if all(difference(f.rec.sig, p.rec.sig) >= SAME_FRAME for p in final)
            ]
            if not ranked:
                break
            (like, twin), best = min(ranked, key=lambda t: (round(t[0][0], 2), -t[1].score))
            if twin is not None and like >= self.likeness:
                best.look_alike = id(twin)
            final.append(best)
            rest = [f for f in rest if f is not best]
        return final

    def _empty_reason(self, n: int, distinct: int, held: int, rejected: list[_Finalist]) -> str:
        counts = ", ".join(f"{c} {r}" for r, c in self.t.rejected.most_common()) or "none"
        flaws = sorted({fl for f in rejected for fl in f.appeal.flaws})
        parts = [
            f"the video holds only {held} usable moment(s) of {self.t.decoded} decoded frames (rejected: {counts})"
        ]
        if flaws:
            parts.append(f"{len(rejected)} finalist(s) had an editor's flaw ({', '.join(flaws)})")
        if n < self.k and n >= self.min_count:
            parts.append(f"--min-count {self.min_count} allows no look-alike fill-ins")
        return "; ".join(parts)

    def _frame_crop(self, rec: FrameRecord, video_crop: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """The bars of this frame's shot (seen over all its frames on the proxy), with each edge
        placed exactly using the frame's own full-resolution luma when that agrees within a proxy pixel."""
        luma = rec.held.luma()
        h, w = luma.shape
        own_bars = detect_bars(luma)
        own = own_bars.pixels(w, h)
        tol = 2 * int(math.ceil(w / self.t.maxgrey.shape[1])) + 4 if self.t.maxgrey is not None else 8
        bars = self.t.shot_bars.get(rec.shot)
        if bars is None:  # a short shot: trust its own bars if other shots have the same, or if they
            # are symmetric (letterboxing is; a dark sky or floor at one edge rarely is, to the pixel)
            known = [b.pixels(w, h) for b in self.t.shot_bars.values() if not b.is_full]
            same = any(all(abs(a - o) <= tol for a, o in zip(box, own)) for box in known)
            symmetric = own != (0, 0, w, h) and abs(own[0] - (w - own[2])) <= tol and abs(own[1] - (h - own[3])) <= tol
            if not (same or symmetric):
                return video_crop
            bars = own_bars
        approx = bars.pixels(w, h)
        borders = (0, 0, w, h)
        box = [b if a == b else (o if abs(o - a) <= tol else a) for a, o, b in zip(approx, own, borders)]
        return (box[0] & ~1, box[1] & ~1, box[2] & ~1, box[3] & ~1)

    def _content_crop(self, held: list[FrameRecord]) -> tuple[int, int, int, int]:
        """Bars measured at full resolution on the held frames (they span many shots)."""
        w, h = self.info.width, self.info.height
        if len(held) >= 3:
            mx = held[0].held.luma().copy()
            for r in held[1:]:
                np.maximum(mx, r.held.luma(), out=mx)
            crop = detect_bars(mx)
            h, w = mx.shape
        else:
            crop = self.t.crop
        x0, y0, x1, y1 = crop.pixels(w, h)
        return (x0 & ~1, y0 & ~1, x1 & ~1, y1 & ~1)
