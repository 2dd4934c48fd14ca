"""Words and phones on the timeline of a recording, with or without a transcript.

With a transcript the words are forced onto the audio (pocketsphinx alignment); without one
they are recognised first. Long recordings are cut into chunks inside pauses: each chunk is
recognised with a language model built from the transcript, a global edit-distance match
tells which transcript words fall in which chunk, and each piece is then aligned on its own
(in worker processes when the file is long). Audio the English models cannot read (another
language, or a recognition with very low confidence) still gets phones from a phone-loop
decode, with the words marked unreliable.

Results are cached as JSON keyed by the audio, transcript, language and model version.
``STUDIO_ALIGN_WORKERS`` caps the worker processes (``1`` = decode in this process). Workers
are spawned, so a script that aligns long audio needs the usual
``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import json
import os
from bisect import bisect_right
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from importlib.metadata import PackageNotFoundError, version
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from core.align import decoding
from core.align.decoding import Span, WordSpan
from core.align.dictionary import dictionary_text, pronunciations
from core.align.matching import split_transcript
from core.align.result import SILENCE, Alignment, Phone, Word
from core.align.speech import (
    FRAME_RATE,
    HOP,
    SAMPLE_RATE,
    Chunk,
    frame_levels,
    has_speech,
    plan_chunks,
    speech_mask,
)
from core.align.text import normalize
from core.atomic import atomic_write_bytes, sweep_temp_files
from core.errors import AlignError, Cancelled, TranscriptError
from core.hashing import bytes_hash
from core.paths import user_cache_dir
from core.progress import Progress

CancelCheck = Callable[[], bool]


def _model_tag() -> str:
    try:
        ps_version = version("pocketsphinx")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        ps_version = "unknown"
    # align-5: the words the aligner could not place are marked
    return f"pocketsphinx-{ps_version}/en-us/align-5"


MODEL_TAG = _model_tag()

# Mean and median word posterior (averaged) below this: the recognised words are unreliable
# and phones come from the phone decoder. Clear English clips score 0.55-0.96; English the
# recogniser finds hard (a distant microphone, a fast speaker) 0.42-0.46; German, French
# and Mandarin clips and singing 0.25-0.42; eSpeak's synthetic voice (the README's sample)
# 0.36.
_RELIABLE_CONFIDENCE = 0.48
# Saying "it may not be English" is a stronger claim, made only below this confidence and
# only when the recogniser's acoustic model fits the voice as it fits speech it knows (a
# median fit per frame above _VOICE_FIT). Natural voices, in any language, fit at -3 to
# -4.4; the synthetic voice of the README's sample at -6.1, a child at -5.2, speech over
# music at -5.4: for those the low confidence says nothing about the language.
_LANGUAGE_CONFIDENCE = 0.40
_VOICE_FIT = -5.0
_LOW_CONFIDENCE = 0.15  # single recognised words below this are listed for checking
_PARALLEL_MIN_SECONDS = 30.0
# Longest piece whose phones are aligned in one pass (memory grows with length squared);
# longer pieces get word times first, then phones between pauses.
_MAX_PHONE_PASS_S = 60.0
_MAX_LISTED = 12


def align(
    samples: np.ndarray,
    transcript: str | None,
    *,
    language: str = "en",
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    cancel: CancelCheck | None = None,
    workers: int | None = None,
) -> Alignment:
    """Align ``transcript`` (or recognised words when None/blank) to 16 kHz mono samples.

    Raises AlignError for empty audio and TranscriptError for a transcript without words;
    raises Cancelled when ``cancel()`` turns true. Silence is not an error: the result has no
    words and a note. ``workers`` caps the worker processes for a long recording (None: one
    per core, or ``STUDIO_ALIGN_WORKERS``; 1 decodes in this process).
    """
    x, text, lang, folder, key = _request(samples, transcript, language, cache_dir)
    cached = _read_cache(folder, key)
    if cached is not None:
        if progress is not None:
            progress("aligning", 1.0, 1.0)
        return cached
    result = _compute(x, text, lang, progress, cancel, workers)
    _write_cache(folder, key, result)
    return result


def cached_alignment(samples: np.ndarray, transcript: str | None, *, language: str = "en",
                     cache_dir: Path | None = None) -> Alignment | None:
    """What :func:`align` would return from its cache, or None when it would compute."""
    _, _, _, folder, key = _request(samples, transcript, language, cache_dir)
    return _read_cache(folder, key)


def align_all(jobs: Sequence[tuple[np.ndarray, str | None, str, Path | None]],
              workers: int | None = None) -> list[Alignment]:
    """:func:`align` of each ``(samples, transcript, language, cache_dir)``, in order (one
    call for a worker process, see :class:`core.background.BackgroundCall`)."""
    return [align(x, text, language=lang, cache_dir=folder, workers=workers)
            for x, text, lang, folder in jobs]


def _request(samples: np.ndarray, transcript: str | None, language: str,
             cache_dir: Path | None) -> tuple[np.ndarray, str | None, str, Path, str]:
    x = _prepare(samples)
    lang = (language or "en").strip().lower().replace("_", "-").split("-")[0] or "en"
    text = transcript if transcript is not None and transcript.strip() else None
    key = bytes_hash(x.tobytes(), text or "", lang, MODEL_TAG)
    folder = Path(cache_dir) if cache_dir is not None else user_cache_dir() / "align"
    return x, text, lang, folder, key


# ---------------------------------------------------------------------------------------------
# Input and cache


def _prepare(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples)
    if x.ndim == 2:
        if x.shape[1] <= 8 and x.shape[0] >= x.shape[1]:
            x = x.mean(axis=1)
        elif x.shape[0] <= 8:
            x = x.mean(axis=0)
        else:
            raise AlignError(None, f"audio must be mono samples, got an array of shape {x.shape}")
    elif x.ndim != 1:
        raise AlignError(None, f"audio must be mono samples, got an array of shape {x.shape}")
    if x.size == 0:
        raise AlignError(None, "the audio is empty (zero samples); there is nothing to align")
    if np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32) / float(np.iinfo(x.dtype).max + 1)
    x = np.nan_to_num(x.astype(np.float32, copy=False), nan=0.0, posinf=1.0, neginf=-1.0)
    return np.ascontiguousarray(np.clip(x, -1.0, 1.0), dtype=np.float32)


def _read_cache(folder: Path, key: str) -> Alignment | None:
    path = folder / f"{key}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("key") != key:
            return None
        return Alignment.from_json(data["alignment"])
    except Exception:  # noqa: BLE001 - missing or damaged in any way: compute again
        return None


def _write_cache(folder: Path, key: str, result: Alignment) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        sweep_temp_files(folder)  # what killed runs left
        atomic_write_bytes(folder / f"{key}.json", json.dumps(
            {"key": key, "model": MODEL_TAG, "alignment": result.to_json()}).encode("utf-8"))
    except OSError:
        pass  # a read-only cache only costs speed


# ---------------------------------------------------------------------------------------------
# Running decoder jobs, in this process or in workers


def _worker_count() -> int:
    env = os.environ.get("STUDIO_ALIGN_WORKERS", "").strip()
    if env.isdigit():
        return max(1, int(env))
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


class _Runner:
    """Runs decoding jobs, reports progress by audio length done and honours cancel."""

    def __init__(self, parallel: bool, progress: Progress | None, cancel: CancelCheck | None,
                 workers: int | None = None):
        self.workers = (workers or _worker_count()) if parallel else 1
        self.progress = progress
        self.cancel = cancel
        self.pool: ProcessPoolExecutor | None = None

    def check(self) -> None:
        if self.cancel is not None and self.cancel():
            self.close()
            raise Cancelled("alignment cancelled")

    def report(self, value: float) -> None:
        if self.progress is not None:
            self.progress("aligning", min(1.0, max(0.0, value)), 1.0)

    def map(self, jobs: Sequence[tuple], lo: float, hi: float) -> list:
        """Results of ``jobs`` in order; progress moves from ``lo`` to ``hi``."""
        weights = [max(1, len(job[1])) for job in jobs]
        total = float(sum(weights)) or 1.0
        results: list = [None] * len(jobs)
        done = 0.0
        pending = list(range(len(jobs)))
        if self.workers > 1 and len(jobs) > 1:
            try:
                self._map_parallel(jobs, results, weights, total, lo, hi)
                pending = []
            except (BrokenProcessPool, OSError):
                # Workers could not start (or died): finish here. A script without an
                # ``if __name__ == "__main__":`` guard lands here too, after its workers
                # stop with multiprocessing's usual explanation.
                self.close()
                self.workers = 1
                pending = [i for i in range(len(jobs)) if results[i] is None]
                done = sum(weights[i] for i in range(len(jobs)) if i not in pending)
        for i in pending:
            self.check()
            results[i] = decoding.run(jobs[i])
            done += weights[i]
            self.report(lo + (hi - lo) * done / total)
        return results

    def _map_parallel(
        self,
        jobs: Sequence[tuple],
        results: list,
        weights: list[int],
        total: float,
        lo: float,
        hi: float,
    ) -> None:
        if self.pool is None:
            self.pool = ProcessPoolExecutor(
                max_workers=min(self.workers, len(jobs)), mp_context=get_context("spawn")
            )
        # Longest first, so the last job to finish is a short one.
        order = sorted(range(len(jobs)), key=lambda i: -weights[i])
        futures: dict[Future, int] = {self.pool.submit(decoding.run, jobs[i]): i for i in order}
        done = 0.0
        waiting = set(futures)
        while waiting:
            finished, waiting = wait(waiting, timeout=0.2, return_when=FIRST_COMPLETED)
            self.check()
            for future in finished:
                i = futures[future]
                results[i] = future.result()
                done += weights[i]
                self.report(lo + (hi - lo) * done / total)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None


# ---------------------------------------------------------------------------------------------
# The alignment itself


def _compute(
    x: np.ndarray,
    transcript: str | None,
    language: str,
    progress: Progress | None,
    cancel: CancelCheck | None,
    workers: int | None = None,
) -> Alignment:
    job = _Job(x, transcript, language, progress, cancel, workers)
    try:
        return job.run()
    finally:
        job.runner.close()


class _Job:
    """One alignment: the audio as 16-bit PCM, its speech mask and chunks, and the notes."""

    def __init__(
        self,
        x: np.ndarray,
        transcript: str | None,
        language: str,
        progress: Progress | None,
        cancel: CancelCheck | None,
        workers: int | None = None,
    ):
        self.n = len(x)
        self.duration = self.n / SAMPLE_RATE
        self.pcm = _to_pcm(x)
        self.transcript = transcript
        self.language = language
        self.notes: list[str] = []
        self.levels = frame_levels(x)
        self.mask = speech_mask(self.levels)
        self.chunks: list[Chunk] = []
        self.prons: dict[str, list[str]] = {}
        parallel = self.duration >= _PARALLEL_MIN_SECONDS
        self.runner = _Runner(parallel, progress, cancel, workers)

    # -- entry

    def run(self) -> Alignment:
        result = self._run()
        self.runner.report(1.0)
        return result

    def _run(self) -> Alignment:
        tokens = None
        if self.transcript is not None:
            tokens = normalize(self.transcript)
            if not tokens:
                raise TranscriptError(None, "the transcript has no words to align")
        source = "transcript" if tokens is not None else "recognition"
        self.runner.check()
        self.runner.report(0.02)
        if not has_speech(self.mask):
            note = "No speech was found in the audio"
            note += "; the transcript was not aligned." if tokens is not None else "."
            return self._result([], [], source, [note], True)
        self.chunks = plan_chunks(self.mask, self.levels, self.n)
        english = self.language == "en"
        if tokens is not None:
            words = self._align_transcript(tokens, 0.05, 0.9 if english else 0.6)
            reliable = english
        else:
            words, reliable = self._recognise(0.05, 0.9 if english else 0.6)
        phones: list[Span] | None = None
        if not reliable:
            phones = self._phone_loop(0.9 if english else 0.6, 0.98)
            self._use_loop_phones(words, phones)
            if english:
                self.notes.append(self._unreliable_note(words))
            else:
                self.notes.append(
                    f"The words are unreliable for this audio: the models only know English "
                    f"(language '{self.language}'). Phones come from a phone decoder."
                )
        return self._result(words, phones, source, self.notes, reliable)

    def _piece(self, first: int, last: int) -> tuple[bytes, int]:
        """PCM bytes of chunks [first, last) and its offset in frames."""
        start, end = self.chunks[first].start, self.chunks[last - 1].end
        return self.pcm[start:end].tobytes(), start // HOP

    # -- transcript

    def _align_transcript(self, tokens: list[str], lo: float, hi: float) -> list[WordSpan]:
        prons, oov = pronunciations(tokens)
        self.prons = prons
        if oov:
            self.notes.append("Not in the dictionary, pronounced by rule: " + _listing(oov))
        dictionary = dictionary_text(prons)
        units = None
        mid = lo
        if len(self.chunks) > 1:
            mid = lo + (hi - lo) * 0.5
            jobs = [
                ("recognise_with_transcript", self._piece(c, c + 1)[0], dictionary, tokens)
                for c in range(len(self.chunks))
            ]
            heard = self.runner.map(jobs, lo, mid)
            hyp = [(w, c) for c, words in enumerate(heard) for w in words]
            units = split_transcript(hyp, tokens, len(self.chunks))
        if units is None:
            units = [(0, len(self.chunks), 0, len(tokens))]
        jobs = []
        for c0, c1, w0, w1 in units:
            if w1 > w0:
                piece = self._piece(c0, c1)[0]
                phones = len(piece) <= _MAX_PHONE_PASS_S * SAMPLE_RATE * 2
                jobs.append(("force_align", piece, dictionary, tokens[w0:w1], 0, phones))
        aligned = iter(self.runner.map(jobs, mid, hi))
        words: list[WordSpan] = []
        estimated: list[str] = []
        unplaced_speech: list[tuple[int, int]] = []
        for c0, c1, w0, w1 in units:
            offset = self.chunks[c0].start // HOP
            unit_end = offset + (self.chunks[c1 - 1].end - self.chunks[c0].start) // HOP
            if w1 == w0:
                if self.mask[offset:unit_end].sum() >= FRAME_RATE // 2:
                    unplaced_speech.append((offset, unit_end))
                continue
            spans = next(aligned)
            piece, _ = self._piece(c0, c1)
            level = 1
            while spans is None and level < len(decoding.BEAM_LEVELS):
                self.runner.check()
                spans = decoding.force_align(piece, dictionary, tokens[w0:w1], level, False)
                level += 1
            if spans is not None and not all(w.phones for w in spans):
                self.runner.check()
                spans = _refine(piece, dictionary, spans)
            if spans is None:
                spans = self._estimate(tokens[w0:w1], offset, unit_end)
                estimated.extend(tokens[w0:w1])
            else:
                for span in spans:
                    _shift(span, offset)
            words.extend(spans)
        if estimated:
            self.notes.append(
                f"{len(estimated)} word(s) could not be placed by the aligner; their times "
                "are estimated: " + _listing(estimated)
            )
        for a, b in unplaced_speech:
            self.notes.append(
                f"Speech from {a / FRAME_RATE:.1f} s to {b / FRAME_RATE:.1f} s matched no "
                "transcript words."
            )
        self._fill_missing_phones(words)
        return words

    def _estimate(self, tokens: list[str], start: int, end: int) -> list[WordSpan]:
        """Spread words over the speech frames of [start, end) by their phone counts."""
        phones = [self.prons[t][0].split() for t in tokens]
        frames = np.flatnonzero(self.mask[start:end]) + start
        if len(frames) < len(tokens):
            frames = np.arange(start, max(end, start + 1))
        weights = np.array([max(1, len(p)) for p in phones], dtype=float)
        edges = np.round(np.concatenate([[0], np.cumsum(weights)]) / weights.sum() * len(frames))
        edges = edges.astype(int)
        spans = []
        for i, token in enumerate(tokens):
            a = int(frames[min(edges[i], len(frames) - 1)])
            b = int(frames[min(max(edges[i + 1], edges[i] + 1), len(frames)) - 1]) + 1
            if spans:
                a = max(a, spans[-1].end)
            b = max(b, a)
            spans.append(WordSpan(token, a, b, _spread(phones[i], a, b), estimated=True))
        return spans

    # -- recognition

    def _per_chunk(self, kind: str, lo: float, hi: float) -> list:
        """One decoding job of ``kind`` per chunk, its spans moved onto the whole timeline."""
        jobs = [(kind, self._piece(c, c + 1)[0]) for c in range(len(self.chunks))]
        out = []
        for c, spans in enumerate(self.runner.map(jobs, lo, hi)):
            offset = self.chunks[c].start // HOP
            for span in spans:
                _shift(span, offset)
                out.append(span)
        return out

    def _recognise(self, lo: float, hi: float) -> tuple[list[WordSpan], bool]:
        words: list[WordSpan] = self._per_chunk("recognise", lo, hi)
        self.prons, _ = pronunciations(w.label for w in words)
        self._fill_missing_phones(words)
        if not words:
            self.notes.append("No words were recognised in the audio.")
            return words, False
        reliable = self.language == "en" and _confidence(words) >= _RELIABLE_CONFIDENCE
        if reliable:
            low = [w.label for w in words if w.confidence < _LOW_CONFIDENCE]
            if low:
                self.notes.append("Low-confidence words (please check): " + _listing(low))
        return words, reliable

    def _unreliable_note(self, words: list[WordSpan]) -> str:
        """Why the recognised English words are not trusted, without guessing a language
        where the evidence does not allow it (see _LANGUAGE_CONFIDENCE)."""
        end = ("Phones come from a phone decoder; a transcript (--transcript) aligns the "
               "words exactly.")
        if not words:
            return end
        confidence = _confidence(words)
        fit = float(np.median([w.fit for w in words]))
        if fit < _VOICE_FIT:
            return ("The recognised words are unreliable for this audio: the recogniser's "
                    "acoustic model matches this voice poorly (a synthetic or child's voice, "
                    "speech over music, or noise). " + end)
        if confidence < _LANGUAGE_CONFIDENCE:
            return ("The recognised words are unreliable for this audio (the recogniser is "
                    "not confident; it may not be English speech). " + end)
        return ("The recognised words are unreliable for this audio (the recogniser is not "
                "confident enough to trust them). " + end)

    # -- phones

    def _phone_loop(self, lo: float, hi: float) -> list[Span]:
        return self._per_chunk("phone_loop", lo, hi)

    def _use_loop_phones(self, words: list[WordSpan], phones: list[Span]) -> None:
        """Give each word the phone-loop phones inside it (clipped at its edges)."""
        spoken = sorted((p for p in phones if p.label != SILENCE), key=lambda p: p.start)
        ends = [p.end for p in spoken]
        for w in words:
            w.phones = []
            for p in spoken[bisect_right(ends, w.start) :]:
                if p.start >= w.end:
                    break
                w.phones.append(Span(p.label, max(p.start, w.start), min(p.end, w.end)))

    def _fill_missing_phones(self, words: list[WordSpan]) -> None:
        for w in words:
            if not w.phones and w.end > w.start:
                w.phones = _spread(self.prons[w.label][0].split(), w.start, w.end)

    # -- output

    def _result(
        self,
        words: list[WordSpan],
        loop_phones: list[Span] | None,
        source: str,
        notes: list[str],
        reliable: bool,
    ) -> Alignment:
        limit = self.duration
        # Words in order without overlaps, each phone clipped to its word (all in frames).
        last = 0
        for w in words:
            w.start = max(w.start, last)
            w.end = max(w.end, w.start)
            w.phones = [
                Span(p.label, max(p.start, w.start), min(p.end, w.end))
                for p in w.phones
                if min(p.end, w.end) > max(p.start, w.start)
            ]
            last = w.end
        if loop_phones is not None:
            timeline = [p for p in loop_phones if p.label != SILENCE]
        else:
            timeline = [p for w in words for p in w.phones]
        segments: list[Phone] = []
        cursor = 0
        for p in sorted(timeline, key=lambda s: s.start):
            a = max(p.start, cursor)
            if p.end <= a:
                continue
            if a > cursor:
                segments.append(Phone(SILENCE, _t(cursor, limit), _t(a, limit)))
            segments.append(Phone(p.label, _t(a, limit), _t(p.end, limit)))
            cursor = p.end
        if _t(cursor, limit) < limit:
            segments.append(Phone(SILENCE, _t(cursor, limit), limit))
        out_words = [
            Word(
                w.label,
                _t(w.start, limit),
                _t(w.end, limit),
                [Phone(p.label, _t(p.start, limit), _t(p.end, limit)) for p in w.phones],
                estimated=w.estimated,
            )
            for w in words
        ]
        return Alignment(
            words=out_words,
            phones=[p for p in _merge_silences(segments) if p.end > p.start],
            source=source,
            duration=limit,
            notes=list(notes),
            words_reliable=reliable,
        )


# ---------------------------------------------------------------------------------------------
# Small helpers


def _refine(pcm: bytes, dictionary: str, spans: list[WordSpan]) -> list[WordSpan]:
    """Phones for words that only got boundaries (from a wide-beam pass).

    The words are re-aligned group by group, each group being the words between two pauses
    and its audio cut in the middle of those pauses; words of groups that still fail are
    aligned one by one inside their own boundaries, and any left over keep their word times
    and get evenly spread phones later.
    """
    longest = int(_MAX_PHONE_PASS_S * FRAME_RATE) // 2
    groups: list[list[int]] = [[0]]
    for i in range(1, len(spans)):
        paused = spans[i].start - spans[i - 1].end >= 3
        if paused or spans[i].end - spans[groups[-1][0]].start > longest:
            groups.append([i])
        else:
            groups[-1].append(i)
    samples = np.frombuffer(pcm, dtype="<i2")
    total = len(samples) // HOP
    for k, group in enumerate(groups):
        if all(spans[i].phones for i in group):
            continue
        lo = (spans[groups[k - 1][-1]].end + spans[group[0]].start) // 2 if k else 0
        hi = (
            (spans[group[-1]].end + spans[groups[k + 1][0]].start) // 2
            if k + 1 < len(groups)
            else total
        )
        piece = samples[lo * HOP : hi * HOP].tobytes()
        redone = decoding.force_align(piece, dictionary, [spans[i].label for i in group])
        if redone is None or not all(w.phones for w in redone):
            continue
        for i, word in zip(group, redone, strict=True):
            _shift(word, lo)
            spans[i] = word
    # Words still without phones (inside a stretch that does not match the transcript):
    # align each alone within its own boundaries.
    for word in spans:
        if word.phones or word.end - word.start < 3:
            continue
        piece = samples[word.start * HOP : word.end * HOP].tobytes()
        redone = decoding.force_align(piece, dictionary, [word.label])
        if redone is None or not redone[0].phones:
            continue
        phones = redone[0].phones
        _shift(redone[0], word.start)
        phones[0].start, phones[-1].end = word.start, word.end
        word.phones = phones
    return spans


def _confidence(words: list[WordSpan]) -> float:
    """The mean and the median word posterior, averaged."""
    posteriors = np.array([w.confidence for w in words], dtype=float)
    return 0.5 * float(posteriors.mean() + np.median(posteriors))


def _to_pcm(x: np.ndarray) -> np.ndarray:
    """16-bit samples with +-1 LSB of fixed-seed noise.

    Stretches of exact digital zeros (synthetic speech, padded edits) give the feature
    extractor log(0) energies, which wreck its normalisation: without this the sample
    sentence cannot be aligned at all. The noise is seeded, so results stay reproducible.
    """
    noise = np.random.default_rng(0).integers(-1, 2, len(x), dtype=np.int32)
    pcm = np.round(x * 32767.0).astype(np.int32) + noise
    return np.clip(pcm, -32768, 32767).astype("<i2")


def _t(frame: int, limit: float) -> float:
    return min(round(frame / FRAME_RATE, 3), limit)


def _shift(span: Span, offset: int) -> None:
    span.start += offset
    span.end += offset
    for p in getattr(span, "phones", ()):
        p.start += offset
        p.end += offset


def _spread(phones: list[str], start: int, end: int) -> list[Span]:
    """Phones evenly over [start, end) when the decoder gave no phone times."""
    if not phones or end <= start:
        return []
    edges = np.linspace(start, end, len(phones) + 1).round().astype(int)
    bounds = zip(phones, edges[:-1], edges[1:], strict=True)
    return [Span(p, int(a), int(b)) for p, a, b in bounds if b > a]


def _merge_silences(phones: list[Phone]) -> list[Phone]:
    out: list[Phone] = []
    for p in phones:
        if out and p.label == SILENCE and out[-1].label == SILENCE:
            out[-1] = Phone(SILENCE, out[-1].start, p.end)
        else:
            out.append(p)
    return out


def _listing(words: list[str]) -> str:
    unique = list(dict.fromkeys(words))
    shown = ", ".join(unique[:_MAX_LISTED])
    if len(unique) > _MAX_LISTED:
        shown += f" and {len(unique) - _MAX_LISTED} more"
    return shown
