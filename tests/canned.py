"""A stand-in model for tests of the wiring (CLI, batch, UI): it writes prepared answers and records each prompt.

An answer may cite by content: `{14 milliards}` becomes `[k]`, k being the number the prompt gave to the first
source line holding that text, so the test does not depend on how retrieval happened to order the sources.
"""
from __future__ import annotations

import re

CITE = re.compile(r"\{([^{}]+)\}")
SOURCE_LINE = re.compile(r"^\[(\d+)\] (.*)$", re.M)


def cite(answer: str, prompt: str) -> str:
    """The answer with each `{fragment}` replaced by the number of the source line holding it ([99] when none does)."""

    def number(match: re.Match) -> str:
        found = next((k for k, line in SOURCE_LINE.findall(prompt) if match.group(1) in line), "99")
        return f"[{found}]"

    return CITE.sub(number, answer)


class CannedGenerator:
    """Writes the given answers in order (then a decline line), seven characters at a time."""

    name = "canned"

    def __init__(self, answers: list[str] | None = None, repeat: str | None = None, decline_probability: float | None = None) -> None:
        self.answers = list(answers or [])
        self.repeat = repeat
        self.decline_probability = decline_probability  # what the model's odds of declining read, if anything
        self.prompts: list[list[dict]] = []

    def stream_chat(self, messages, max_tokens=None, odds=None):
        self.prompts.append(messages)
        if odds is not None:
            odds.probability = self.decline_probability
        text = self.answers.pop(0) if self.answers else (self.repeat or "[0]")
        text = cite(text, messages[-1]["content"])
        yield from (text[i : i + 7] for i in range(0, len(text), 7))

    def count_tokens(self, text: str) -> int:
        return len(text.split()) * 2

    def warm_up(self, messages) -> None:
        pass
