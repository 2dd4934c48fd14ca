"""The warm composer against the pure definition, in both of its modes."""

from __future__ import annotations

import numpy as np
import pytest

from core.motion.compose import compose
from core.motion.composer import BLOCK, Composer, motion_basis
from core.motion.words import StyledWord, WordStyle

N, T = 60, 3 * BLOCK + 37


def _case(rank: int | None, seed: int = 0):
    rng = np.random.default_rng(seed)
    lip_weight = np.zeros(N, np.float32)
    lip_weight[:40] = rng.uniform(0.2, 1.0, 40)
    expression = rng.normal(0, 0.01, (T, N, 3)).astype(np.float32)
    if rank is None:
        delta = rng.normal(0, 0.01, (T, N, 3)).astype(np.float32)
    else:
        shapes = rng.normal(0, 0.01, (rank, N, 3))
        delta = np.einsum("tr,rnk->tnk", rng.uniform(0, 1, (T, rank)), shapes)
        delta = delta.astype(np.float32)
    delta *= lip_weight[None, :, None]
    dirs = {}
    for k in ("open", "wide", "round"):
        v = rng.normal(0, 1, (N, 3)) * (lip_weight[:, None] > 0)
        dirs[k] = (v / np.linalg.norm(v)).astype(np.float32)
    hold = (rng.uniform(0, 1, T) > 0.9).astype(np.float32)
    loud = rng.uniform(0.1, 1.0, T).astype(np.float32)
    return expression, lip_weight, delta, hold, loud, dirs


WORDS = (
    StyledWord(30.0, 42.0, WordStyle(open=2.0)),
    StyledWord(BLOCK - 5.0, BLOCK + 9.0, WordStyle(wide=0.5, round=1.7)),
    StyledWord(600.0, 612.0, WordStyle(alpha=1.4)),
    StyledWord(700.0, 706.0, WordStyle(silent=True)),
)


@pytest.mark.parametrize("rank", [6, None], ids=["subspace", "point by point"])
def test_the_composer_equals_the_definition(rank):
    expression, w, delta, hold, loud, dirs = _case(rank)
    composer = Composer(expression, w, None, delta, hold, loud, dirs)
    assert (composer.basis is None) == (rank is None)
    for opts in ({"alpha": 1.0, "smoothing": 0.5}, {"alpha": 1.3, "beta": 0.7, "smoothing": 1.2},
                 {"alpha": 0.0, "smoothing": 0.0}):
        for words in ((), WORDS):
            warm = composer.update(**opts, words=words, ramp=2.0)
            pure = compose(expression, delta, w, hold=hold, loudness=loud, words=words,
                           directions=dirs, ramp=2.0, **opts)
            lips = np.flatnonzero(w > 0)
            np.testing.assert_allclose(warm, pure[:, lips], atol=1e-6)


@pytest.mark.parametrize("rank", [6, None], ids=["subspace", "point by point"])
def test_the_composer_holds_the_lips_inside_the_face_as_the_definition_does(rank):
    """With limits small enough that α 2 saturates, the warm composer still equals the
    definition, and its per-frame saturation is the definition's."""
    from core.motion.mouth import LipLimits, limit_lips

    expression, w, delta, hold, loud, dirs = _case(rank, seed=3)
    rng = np.random.default_rng(4)
    gap, width, closing = (np.zeros((N, 3), np.float32) for _ in range(3))
    gap[5, 1], gap[6, 1] = 1.0, -1.0
    width[7, 0], width[8, 0] = 1.0, -1.0
    closing[6, 1], closing[9, 1] = 1.0, -1.0
    jaw = np.zeros((N, 3), np.float32)
    jaw[:40, 1] = rng.uniform(0, 1, 40)
    jaw[6] = 0
    term = 2.0 * delta
    scale = float(np.percentile(np.einsum("tnk,nk->t", term, gap), 80))
    thick = np.zeros((N, 3), np.float32)
    thick[10, 1], thick[6, 1] = 1.0, -1.0
    body = np.zeros((N, 3), np.float32)
    body[10:40, 1] = rng.uniform(0, 1, 30)
    body[10, 1] = 1.0
    anchors = np.arange(5, 15)
    reach = np.linalg.norm(term[:, anchors], axis=-1).max(axis=1)
    limits = LipLimits(gap, width, closing, jaw, max_gap=abs(scale),
                       max_width=float(np.abs(np.einsum("tnk,nk->t", term, width)).max()),
                       slack=0.0, anchors=anchors, max_move=float(np.percentile(reach, 90)),
                       thick=thick, lip_body=body,
                       max_thick=float(np.percentile(np.einsum("tnk,nk->t", term, thick), 70)))
    composer = Composer(expression, w, None, delta, hold, loud, dirs, limits=limits)
    lips = np.flatnonzero(w > 0)
    for opts in ({"alpha": 1.0, "beta": 1.0}, {"alpha": 2.0, "smoothing": 0.0}):
        warm = composer.update(**opts, words=WORDS, ramp=2.0)
        pure = compose(expression, delta, w, hold=hold, loudness=loud, words=WORDS,
                       directions=dirs, ramp=2.0, limits=limits, **opts)
        np.testing.assert_allclose(warm, pure[:, lips], atol=1e-6)
    unworded = composer.update(alpha=2.0, smoothing=0.0, ramp=2.0)
    held, saturation = limit_lips(2.0 * delta[:, lips], limits.on(lips))
    assert saturation.max() > 0.05
    np.testing.assert_allclose(composer.saturation, saturation, atol=1e-6)
    np.testing.assert_allclose(unworded - composer.base_lips, held, atol=1e-6)


def test_a_word_edit_and_its_undo_restore_the_exact_frames():
    expression, w, delta, hold, loud, dirs = _case(8, seed=1)
    composer = Composer(expression, w, None, delta, hold, loud, dirs)
    assert composer.basis is not None
    before = composer.update(alpha=1.0, smoothing=0.5, words=WORDS, ramp=2.0).copy()
    edited = list(WORDS)
    edited[1] = StyledWord(edited[1].start, edited[1].end, WordStyle(open=2.5))
    after = composer.update(alpha=1.0, smoothing=0.5, words=edited, ramp=2.0,
                            emotion_changed=False).copy()
    changed = np.flatnonzero(np.abs(after - before).max(axis=(1, 2)) > 0)
    assert changed.min() >= BLOCK - 5 - 2 and changed.max() <= BLOCK + 9 + 2 + 1
    undone = composer.update(alpha=1.0, smoothing=0.5, words=WORDS, ramp=2.0,
                             emotion_changed=False)
    np.testing.assert_array_equal(undone, before)
    # and a global change followed by its undo
    composer.update(alpha=1.0, smoothing=1.5, words=WORDS, ramp=2.0, emotion_changed=False)
    again = composer.update(alpha=1.0, smoothing=0.5, words=WORDS, ramp=2.0,
                            emotion_changed=False)
    np.testing.assert_array_equal(again, before)


def test_the_basis_spans_the_motion_or_is_refused():
    rng = np.random.default_rng(3)
    low = rng.normal(size=(500, 5)) @ rng.normal(size=(5, 120))
    extra = [rng.normal(size=120)]
    basis = motion_basis(low, extra)
    assert basis is not None and basis.shape == (6, 120)
    np.testing.assert_allclose(basis @ basis.T, np.eye(6), atol=1e-5)
    np.testing.assert_allclose((low @ basis.T) @ basis, low, atol=1e-5)
    assert motion_basis(rng.normal(size=(500, 120)), extra) is None  # full rank
    silent = motion_basis(np.zeros((500, 120)), [])
    assert silent is not None and silent.shape == (0, 120)
