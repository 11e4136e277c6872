"""Artwork variants from candidate images, what `artbandit variants` does: smart aspect crops (`crop`),
title overlays (`title`), colour treatments (`treatments`) and the variants folder (`variants`)."""
