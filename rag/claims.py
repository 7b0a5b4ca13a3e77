"""Reading the model's output: the fixed decline line, the answer's sentences and the source numbers they cite.

Also what the reader sees while the model writes: the decline line becomes the refusal sentence of the question's
language at once, and source numbers become citation numbers in order of appearance.
"""
from __future__ import annotations

import re

from rag.prompts import DECLINE_MARK
from rag.text import sentence_spans
from rag.types import Claim

MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_LEADING_MARKERS = re.compile(r"^(?:\s*" + MARKER.pattern + r")+")
_LIST_NUMBER = re.compile(r"\d{1,2}[.)]")


def is_decline(raw: str) -> bool:
    """The model wrote the fixed decline line (alone, or before anything else)."""
    return raw.strip().startswith(DECLINE_MARK) or raw.strip() == ""


def parse_markers(text: str) -> list[int]:
    """All numbers of the [n] markers in a text, in order of appearance, without repeats."""
    numbers: list[int] = []
    for match in MARKER.finditer(text):
        for piece in re.split(r"[,;]", match.group(1)):
            value = int(piece)
            if value not in numbers:
                numbers.append(value)
    return numbers


_MARKER_RUN = re.compile(r"[ \t]*" + MARKER.pattern + r"(?:[ \t]*[,;]?[ \t]*" + MARKER.pattern + r")*")


def strip_markers(text: str) -> str:
    # A run of markers goes with the spaces before it ("ChatGPT [2] est sorti" keeps one space, "[1], [2]" goes
    # whole); a period or comma left after a space closes up, while French spacing before ! ? : ; » stays.
    text = re.sub(r"[ \t]+([.,])(?=\s|$)", r"\1", _MARKER_RUN.sub("", text))
    # "done. [1]." closes up as "done."; not the dots of a path ("dpkg -i ../*.deb") or of an ellipsis ("...").
    return re.sub(r"(?<!\.)([.!?…])\.(?=\s|$)", r"\1", text).strip()


def split_claims(answer: str, lang: str) -> list[Claim]:
    """The answer's sentences, each with the source numbers it cites ('... in 2022. [1]' stays one claim)."""
    pieces: list[str] = []
    pending = ""  # a list number ("2.") opens the next sentence
    for start, end in sentence_spans(answer, lang=lang):
        piece = pending + answer[start:end]
        pending = ""
        if _LIST_NUMBER.fullmatch(piece.strip()):
            pending = piece.strip() + " "
            continue
        lead = _LEADING_MARKERS.match(piece)
        if pieces and lead:
            # "... 28 ans. [1] ChatGPT ..." is split after the period: the marker closes the previous sentence.
            pieces[-1] += " " + lead.group(0).strip()
            piece = piece[lead.end() :].strip()
        if not any(ch.isalnum() for ch in MARKER.sub("", piece)):
            if pieces and piece:
                pieces[-1] += " " + piece
            continue
        pieces.append(piece)
    return [_claim(piece) for piece in pieces]


def _claim(piece: str) -> Claim:
    """One sentence and its markers; [0], the decline marker, marks it as stated by no source."""
    numbers = parse_markers(piece)
    return Claim(text=strip_markers(piece), cited=[n for n in numbers if n > 0], unsourced=0 in numbers)


class StreamView:
    """Turns the model's pieces into what the reader sees while it writes.

    Source numbers become citation numbers in order of first appearance ([7] then [3] read [1] then [2]); a
    marker split across pieces is held back until it closes; the decline line is shown as `decline`.
    """

    def __init__(self, decline: str) -> None:
        self.decline = decline
        self.raw = ""
        self.shown = ""
        self.numbers: dict[int, int] = {}

    def feed(self, piece: str) -> str:
        """Add a piece of the model's output; return the text to append to what is shown."""
        self.raw += piece
        view = self._render(final=False)
        added, self.shown = view[len(self.shown) :], view
        return added

    def finish(self) -> str:
        """What is left to show once the model has stopped."""
        view = self._render(final=True)
        added, self.shown = view[len(self.shown) :], view
        return added

    def _render(self, final: bool) -> str:
        text = self.raw.lstrip()
        if text.startswith(DECLINE_MARK):
            return self.decline
        if DECLINE_MARK.startswith(text) and not final:
            return ""  # may still become the decline line
        if not final:
            open_at = text.rfind("[")
            if open_at > text.rfind("]"):
                text = text[:open_at]  # an unfinished marker
        return MARKER.sub(self._renumber, text)

    def _renumber(self, match: re.Match) -> str:
        out = []
        for piece in re.split(r"[,;]", match.group(1)):
            k = int(piece)
            if k > 0:
                out.append(str(self.numbers.setdefault(k, len(self.numbers) + 1)))
        return f"[{', '.join(out)}]" if out else ""
