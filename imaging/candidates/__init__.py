"""Candidate thumbnails from a video, what `artbandit extract` does.

`extract` runs the pass (decode -> shots.tracker) and hands the held frames to `finalists`, which
judges a short list and keeps K (`diverse`: the best K items that are not near-duplicates, one per
shot first); `manifest` holds the records, writes them as an output folder and reads them back;
`batch` plans and runs many videos.
"""
