"""Picking K candidates from the frames the shot tracker held: bars, faces, score, diversity.

After the pass (imaging.shot_tracker): the video's bars are measured at full resolution on the
held frames (imaging.bars), a short list is chosen (best first, one per shot, no near-duplicates:
imaging.select), converted to RGB and cropped to its shot's bars, faces are detected on it (and confirmed by a
second cascade: imaging.faces.confirm_faces), and the
final K are chosen again with the face bonus and the perceptual duplicate test (imaging.similar).

    score = (1 - FACE_WEIGHT) quality + FACE_WEIGHT face,  face = min(1, sqrt(face area share / 0.05))
"""
from __future__ import annotations

import math

import numpy as np

from imaging.bars import detect_bars
from imaging.candidates import Candidate, CandidateSet
from imaging.errors import ImagingError
from imaging.faces import Box, confirm_faces, detect_faces
from imaging.select import select_diverse
from imaging.shot_tracker import FrameRecord, ShotTracker
from imaging.similar import colour_histogram, look_alike

FACE_WEIGHT = 0.15
# Haar runs on a copy this wide (cost grows with pixels; thumbnail-worthy faces are large anyway)
FACE_WIDTH = {"quick": 320, "default": 480, "thorough": 640}
FACE_FULL_AREA = 0.05  # a face covering 5% of the frame earns the whole face bonus


def pick_candidates(tracker: ShotTracker) -> CandidateSet:
    """K diverse, good candidates from what the tracker holds (see the module docstring)."""
    return _Picker(tracker).result()


class _Picker:
    def __init__(self, tracker: ShotTracker):
        self.t = tracker
        self.info, self.k, self.mode = tracker.info, tracker.k, tracker.mode

    def result(self) -> CandidateSet:
        info = self.info
        held = [r for recs in self.t.pool.values() for r in recs]
        if not held:
            reasons = ", ".join(f"{n} {r}" for r, n in self.t.rejected.most_common()) or "none"
            raise ImagingError(
                f"{info.path}: no usable frames among {self.t.decoded} decoded (rejected: {reasons})")
        crop = self._content_crop(held)
        # a few more than K: the perceptual duplicate test below may drop some
        short = select_diverse(held, self.k + max(2, self.k // 2),
                               score=lambda r: r.metrics.quality, shot=lambda r: r.shot,
                               sig=lambda r: r.sig)
        scored: list[tuple[float, FrameRecord, np.ndarray, list[Box], tuple[int, int, int, int], np.ndarray]] = []
        for rec in short:
            rgb = rec.frame.to_rgb()
            rec_crop = self._frame_crop(rec, crop)
            x0, y0, x1, y1 = rec_crop
            image = np.ascontiguousarray(rgb[y0:y1, x0:x1])
            faces = confirm_faces(image, detect_faces(image, max_width=FACE_WIDTH[self.mode]))
            area = faces[0].area / float(image.shape[0] * image.shape[1]) if faces else 0.0
            face_term = min(1.0, math.sqrt(area / FACE_FULL_AREA)) if faces else 0.0
            score = (1 - FACE_WEIGHT) * rec.metrics.quality + FACE_WEIGHT * face_term
            scored.append((score, rec, image, faces, rec_crop, colour_histogram(image)))
        final = select_diverse(scored, self.k, score=lambda t: t[0], shot=lambda t: t[1].shot,
                               sig=lambda t: t[1].sig, similar=lambda a, b: look_alike(a[5], b[5]))
        from imaging.features import image_features  # H2's module; imported late to keep startup cheap

        candidates = []
        for rank, (score, rec, image, faces, rec_crop, _) in enumerate(final, 1):
            candidates.append(Candidate(
                id=f"c{rank:02d}", frame=rec.index, time_s=rec.time_s, shot=rec.shot, score=score,
                image=image, crop=rec_crop, faces=faces, metrics=rec.metrics.to_dict(),
                features=image_features(image, faces)))
        for recs in self.t.pool.values():  # let the decoder's buffers go
            for r in recs:
                r.frame = None
        stats = {"decoded_frames": self.t.decoded, "shots": len(self.t.shots),
                 "rejected": dict(sorted(self.t.rejected.items()))}
        warnings = []
        if len(candidates) < self.k:
            warnings.append(f"{info.path}: only {len(candidates)} of {self.k} candidates: the other usable "
                            f"frames of its {len(self.t.shots)} shot(s) were near-duplicates or rejected")
        return CandidateSet(info, self.mode, self.t.shots, candidates, crop, stats, warnings, self.k)

    def _frame_crop(self, rec: FrameRecord, video_crop: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """The bars of this frame's shot (seen over all its frames on the proxy), with each edge
        placed exactly using the frame's own full-resolution luma when that agrees within a proxy pixel."""
        luma = rec.frame.luma()
        h, w = luma.shape
        own = detect_bars(luma).pixels(w, h)
        tol = 2 * int(math.ceil(w / self.t.maxgrey.shape[1])) + 4 if self.t.maxgrey is not None else 8
        bars = self.t.shot_bars.get(rec.shot)
        if bars is None:  # a short shot: trust its own bars if other shots have the same, or if they
            # are symmetric (letterboxing is; a dark sky or floor at one edge rarely is, to the pixel)
            known = [b.pixels(w, h) for b in self.t.shot_bars.values() if not b.is_full]
            same = any(all(abs(a - o) <= tol for a, o in zip(box, own)) for box in known)
            symmetric = own != (0, 0, w, h) and abs(own[0] - (w - own[2])) <= tol and \
                abs(own[1] - (h - own[3])) <= tol
            if not (same or symmetric):
                return video_crop
            bars = detect_bars(luma)
        approx = bars.pixels(w, h)
        borders = (0, 0, w, h)
        box = [b if a == b else (o if abs(o - a) <= tol else a) for a, o, b in zip(approx, own, borders)]
        return (box[0] & ~1, box[1] & ~1, box[2] & ~1, box[3] & ~1)

    def _content_crop(self, held: list[FrameRecord]) -> tuple[int, int, int, int]:
        """Bars measured at full resolution on the held frames (they span many shots)."""
        w, h = self.info.width, self.info.height
        if len(held) >= 3:
            mx = None
            for r in held:
                y = r.frame.luma()
                mx = y.copy() if mx is None else np.maximum(mx, y, out=mx)
            crop = detect_bars(mx)
            h, w = mx.shape
        else:
            crop = self.t.crop
        x0, y0, x1, y1 = crop.pixels(w, h)
        return (x0 & ~1, y0 & ~1, x1 & ~1, y1 & ~1)
