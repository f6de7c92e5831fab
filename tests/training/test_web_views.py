"""Codec-blind training views (issue 27): each of the web's treatments decodes to RGB of the
expected size, changes the pixels, is reproducible from its seed, and draws every kind."""

from __future__ import annotations

import random

import numpy as np

from synthcheck import testkit
from synthcheck.training.metrics import WEB_VIEWS, web_view


def test_every_view_is_a_real_round_trip():
    rgb = np.asarray(testkit.photo_like(300, 200, seed=4))
    for kind in WEB_VIEWS:
        name, out = web_view(rgb, random.Random(7), (kind,))
        assert name == kind and out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
        assert 0.5 * 300 - 1 <= out.shape[1] <= 300 and 0.5 * 200 - 1 <= out.shape[0] <= 200
        if out.shape == rgb.shape:
            assert np.abs(out.astype(int) - rgb).mean() > 0.1, kind  # lossy codecs change pixels


def test_views_are_seeded_and_cover_every_kind():
    rgb = np.asarray(testkit.photo_like(120, 120, seed=2))
    first = [web_view(rgb, random.Random(s)) for s in range(60)]
    again = [web_view(rgb, random.Random(s)) for s in range(60)]
    assert [k for k, _ in first] == [k for k, _ in again]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(first, again))
    assert {k for k, _ in first} == set(WEB_VIEWS)
