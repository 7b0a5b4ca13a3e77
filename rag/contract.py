"""The JSON answer contract shared by `rag ask --json`, `rag batch` and the web API, as a JSON Schema."""

from rag.types import NOTE_KINDS

TIMINGS = {"retrieve", "evidence", "first_token", "check", "total"}


def _record(properties: dict) -> dict:
    """An object with exactly these properties, all required."""
    return {"type": "object", "additionalProperties": False, "required": list(properties), "properties": properties}


CITATION = _record(
    {
        "n": {"type": "integer", "minimum": 1},
        "doc_id": {"type": "string", "minLength": 1},
        "title": {"type": "string"},
        "source": {"type": "string"},
        "chunk_id": {"type": "string", "minLength": 1},
        "start": {"type": "integer", "minimum": 0},
        "end": {"type": "integer", "minimum": 1},
        "quote": {"type": "string", "minLength": 1},
        "supported": {"type": "boolean"},
    }
)

PASSAGE = _record(
    {
        "n": {"type": "integer", "minimum": 1},
        "doc_id": {"type": "string", "minLength": 1},
        "chunk_id": {"type": "string", "minLength": 1},
        "score": {"type": "number"},
        "text": {"type": "string", "minLength": 1},
    }
)

NOTE = _record(
    {
        "kind": {"enum": list(NOTE_KINDS)},
        "text": {"type": "string", "minLength": 1},
    }
)

ANSWER_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    **_record(
        {
            "id": {"type": ["string", "integer", "null"]},
            "question": {"type": "string", "minLength": 1},
            "answer": {"type": "string", "minLength": 1},
            "abstained": {"type": "boolean"},
            "lang": {"type": "string", "minLength": 2},
            "citations": {"type": "array", "items": CITATION},
            "passages": {"type": "array", "items": PASSAGE},
            "notes": {"type": "array", "items": NOTE},
            "model": {"type": "string", "minLength": 1},
            "timings_ms": _record({k: {"type": "number", "minimum": 0} for k in sorted(TIMINGS)}),
        }
    ),
}
