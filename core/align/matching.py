"""Which chunk each transcript word is in, from a rough recognition of every chunk.

A global edit-distance alignment of the recognised words (in time order) to the transcript
pairs them up; identical pairs are anchors. A chunk boundary is kept only where the anchors
on both sides leave no transcript word unaccounted for; elsewhere neighbouring chunks are
merged, so a word is never forced into the wrong piece of audio.
"""

from __future__ import annotations

import numpy as np

_INF = np.int32(1 << 28)
_DIAG, _UP, _LEFT = 0, 1, 2


def edit_alignment(
    hyp: list[str], ref: list[str], band: int | None = None
) -> list[tuple[int, int]]:
    """Index pairs (i, j) matched or substituted on a minimum edit-distance path.

    Rows are filled with numpy; ``band`` limits the search to that many columns either side
    of the diagonal so hour-long transcripts stay cheap (default: automatic).
    """
    n, m = len(hyp), len(ref)
    if n == 0 or m == 0:
        return []
    vocab: dict[str, int] = {}
    h = np.array([vocab.setdefault(w, len(vocab)) for w in hyp], dtype=np.int64)
    r = np.array([vocab.setdefault(w, len(vocab)) for w in ref], dtype=np.int64)
    if band is None:
        band = m + n if n * m <= 4_000_000 else max(200, abs(n - m) + m // 10)
    cols = np.arange(m + 1, dtype=np.int32)
    prev = cols.copy()
    lows = np.zeros(n + 1, dtype=np.int64)
    pointers: list[np.ndarray] = [np.full(m + 1, _LEFT, dtype=np.int8)]
    for i in range(1, n + 1):
        centre = int(round(i * m / n))
        lo, hi = max(0, centre - band), min(m, centre + band)
        sub = prev[:-1] + (h[i - 1] != r).astype(np.int32)
        up = prev[1:] + 1
        cand = np.empty(m + 1, dtype=np.int32)
        cand[0] = prev[0] + 1
        cand[1:] = np.minimum(sub, up)
        cand[:lo] = _INF
        cand[hi + 1 :] = _INF
        row = np.minimum.accumulate(cand - cols) + cols
        row = np.minimum(row, _INF)
        ptr = np.where(row < cand, _LEFT, _DIAG).astype(np.int8)
        diag_ok = np.empty(m + 1, dtype=bool)
        diag_ok[0] = False
        diag_ok[1:] = sub <= up
        ptr[(ptr == _DIAG) & ~diag_ok] = _UP
        lows[i] = lo
        pointers.append(ptr[lo : hi + 1])
        prev = row
    pairs: list[tuple[int, int]] = []
    i, j = n, m
    while i > 0 and j > 0:
        lo = lows[i]
        k = j - lo
        move = pointers[i][k] if 0 <= k < len(pointers[i]) else _UP
        if move == _DIAG:
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif move == _UP:
            i -= 1
        else:
            j -= 1
    pairs.reverse()
    return pairs


def split_transcript(
    hyp_words: list[tuple[str, int]], ref: list[str], n_chunks: int
) -> list[tuple[int, int, int, int]] | None:
    """Group chunks into units and give each unit its slice of the transcript.

    ``hyp_words`` are (word, chunk index) in time order. Returns units as
    (first chunk, last chunk + 1, first word, last word + 1) covering all chunks and all
    words, or None when nothing could be matched (the caller then aligns the whole file).
    """
    pairs = edit_alignment([w for w, _ in hyp_words], ref)
    if not pairs:
        return None
    chunk = [-1] * len(ref)  # chunk of the recognised word paired with each transcript word
    exact = [False] * len(ref)
    for i, j in pairs:
        chunk[j] = hyp_words[i][1]
        exact[j] = hyp_words[i][0] == ref[j]
    anchors = [j for j in range(len(ref)) if exact[j]]
    if not anchors:
        return None
    cuts: dict[int, int] = {}  # chunk index -> first transcript word of that chunk
    for k in range(len(anchors) - 1):
        a, b = anchors[k], anchors[k + 1]
        ca, cb = chunk[a], chunk[b]
        if ca >= cb or not _backed(anchors, k, chunk, -1) or not _backed(anchors, k + 1, chunk, 1):
            continue
        # Words between the two anchors were misrecognised: they can still be placed when
        # each was paired with a recognised word and those words' chunks run in order.
        between = chunk[a + 1 : b] + [cb]
        if min(between) < ca or between != sorted(between):
            continue
        for c in range(ca + 1, cb + 1):
            cuts[c] = a + 1 + next(n for n, x in enumerate(between) if x >= c)
    units: list[tuple[int, int, int, int]] = []
    first_chunk, first_word = 0, 0
    for c in range(1, n_chunks):
        if c in cuts and cuts[c] >= first_word:
            units.append((first_chunk, c, first_word, cuts[c]))
            first_chunk, first_word = c, cuts[c]
    units.append((first_chunk, n_chunks, first_word, len(ref)))
    return units


def _backed(anchors: list[int], k: int, chunk: list[int], step: int, reach: int = 3) -> bool:
    """Whether anchor ``k`` is confirmed by the next anchor outwards (or a transcript end).

    A lone match (one "the" among misrecognised words) could sit in the wrong place; an
    anchor whose neighbouring anchor, at most ``reach`` words away, is in the same chunk is
    trusted.
    """
    j = anchors[k]
    n = k + step
    if not 0 <= n < len(anchors):
        return (j == 0) if step < 0 else True if j == len(chunk) - 1 else False
    return abs(anchors[n] - j) <= reach and chunk[anchors[n]] == chunk[j]
