"""Phones to visemes: the table that turns an alignment into mouth shapes.

Fourteen classes, after the common MPEG-4 / Oculus grouping of the CMU phone set. Each
phone of the aligner maps to the class whose mouth shape a viewer sees while it is spoken.

| class | phones                   | mouth                          |
|-------|--------------------------|--------------------------------|
| sil   | SIL, silence, noise      | closed, relaxed                |
| PP    | P B M                    | lips pressed shut (bilabial)   |
| FF    | F V                      | lower lip under upper teeth    |
| TH    | TH DH                    | tongue between teeth, slightly open |
| DD    | T D N                    | slightly open, tongue up       |
| L     | L                        | open, tongue up                |
| kk    | K G NG HH                | open, back                     |
| CH    | CH JH SH ZH              | lips forward, teeth close      |
| SS    | S Z                      | teeth close, spread            |
| RR    | R ER                     | lips slightly rounded          |
| aa    | AA AE AH AY AW           | open                           |
| E     | EH EY                    | half open, spread              |
| I     | IY IH Y                  | spread (smile-like)            |
| O     | AO OW OY                 | rounded, open                  |
| U     | UW UH W                  | rounded, small (pursed)        |
"""

from __future__ import annotations

VISEME_CLASSES: tuple[str, ...] = (
    "sil", "PP", "FF", "TH", "DD", "L", "kk", "CH", "SS", "RR", "aa", "E", "I", "O", "U",
)

_TABLE = {
    "PP": "P B M", "FF": "F V", "TH": "TH DH", "DD": "T D N", "L": "L", "kk": "K G NG HH",
    "CH": "CH JH SH ZH", "SS": "S Z", "RR": "R ER", "aa": "AA AE AH AY AW", "E": "EH EY",
    "I": "IY IH Y", "O": "AO OW OY", "U": "UW UH W",
}
PHONE_TO_VISEME: dict[str, str] = {p: v for v, phones in _TABLE.items() for p in phones.split()}

# classes whose shape must be reached fully, whatever the neighbours do
CLOSURES = frozenset({"PP"})
# how strongly each class holds its shape against its neighbours (coarticulation)
DOMINANCE: dict[str, float] = {
    "sil": 0.6, "PP": 3.0, "FF": 2.0, "TH": 1.0, "DD": 0.5, "L": 0.6, "kk": 0.4, "CH": 1.5,
    "SS": 1.0, "RR": 1.0, "aa": 1.2, "E": 1.0, "I": 1.0, "O": 1.5, "U": 1.5,
}


def viseme_of(phone: str) -> str:
    """The viseme class of an aligner phone label (stress digits ignored)."""
    label = phone.upper().rstrip("012")
    if label in ("SIL", "SP", "", "+NSN+", "+SPN+", "+BREATH+", "+NOISE+", "NSN", "SPN"):
        return "sil"
    return PHONE_TO_VISEME.get(label, "sil" if label.startswith("+") else "DD")
