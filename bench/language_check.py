"""What the aligner says about each shared recording when it has no transcript.

For the README's sample and every file in ../shared/data/audio (plus the shared videos'
own sound), prints the recognition confidence, the acoustic fit per frame, whether the
words were trusted, and the note the user sees, so the language check can be judged:
English must never be called "may not be English"; the German, French and Mandarin
recordings may be.

    python bench/language_check.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from _data import ROOT, need_data

from core.align import align
from core.align import aligner as aligner_module
from core.media import load_audio


def main() -> None:
    data = need_data()
    files = [ROOT / "resources" / "samples" / "speech.wav"]
    files += sorted((data / "audio").glob("*.wav"))
    files += sorted((data / "video").glob("*.mp4")) + sorted((data / "edge").glob("*.mp4"))
    seen: dict[str, tuple[float, float]] = {}
    recognise = aligner_module._Job._recognise

    def spy(self, lo, hi):  # the figures the decision is made on
        words, reliable = recognise(self, lo, hi)
        if words:
            seen["last"] = (aligner_module._confidence(words),
                            float(np.median([w.fit for w in words])))
        return words, reliable

    aligner_module._Job._recognise = spy
    print(f"{'file':30s} {'conf':>5s} {'fit':>6s} trusted  note")
    for f in files:
        try:
            audio = load_audio(f, 16000)
        except Exception as exc:  # noqa: BLE001 - a file without sound
            print(f"{f.name:30s} (no audio: {exc})")
            continue
        seen.clear()
        with tempfile.TemporaryDirectory() as tmp:
            result = align(audio.samples, None, cache_dir=Path(tmp))
        conf, fit = seen.get("last", (float("nan"), float("nan")))
        note = next((n for n in result.notes if "unreliable" in n or "decoder" in n), "")
        short = ("MAY NOT BE ENGLISH" if "may not be English" in note else
                 "voice poorly matched" if "matches this voice poorly" in note else
                 "unreliable words" if note else "-")
        print(f"{f.name:30s} {conf:5.3f} {fit:6.2f} {str(result.words_reliable):7s}  {short}")


if __name__ == "__main__":
    main()
