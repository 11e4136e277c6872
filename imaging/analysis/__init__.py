"""What a picture shows, measured: per-frame proxies and the quality score (`frame_metrics`), faces
(`faces`), letterbox/pillarbox bars (`bars`), saliency (`saliency`), an editor's reading of a
finalist (`appeal`) and how alike two pictures look (`likeness`).

Leaf modules: they import nothing else from imaging but `errors` (and each other), so extraction
and artwork both build on them.
"""
