"""The JSON answer contract shared by `rag ask --json`, `rag batch` and the web API, as a JSON Schema."""

TIMINGS = {"retrieve", "first_token", "total"}

ANSWER_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "question", "answer", "abstained", "citations", "passages", "notes", "model", "timings_ms"],
    "properties": {
        "id": {"type": ["string", "integer", "null"]},
        "question": {"type": "string", "minLength": 1},
        "answer": {"type": "string", "minLength": 1},
        "abstained": {"type": "boolean"},
        "citations": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["n", "doc_id", "title", "source", "chunk_id", "start", "end", "quote", "supported"],
                "properties": {
                    "n": {"type": "integer", "minimum": 1},
                    "doc_id": {"type": "string", "minLength": 1},
                    "title": {"type": "string"},
                    "source": {"type": "string"},
                    "chunk_id": {"type": "string", "minLength": 1},
                    "start": {"type": "integer", "minimum": 0},
                    "end": {"type": "integer", "minimum": 1},
                    "quote": {"type": "string", "minLength": 1},
                    "supported": {"type": "boolean"},
                },
            },
        },
        "passages": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["n", "doc_id", "chunk_id", "score", "text"],
                "properties": {
                    "n": {"type": "integer", "minimum": 1},
                    "doc_id": {"type": "string", "minLength": 1},
                    "chunk_id": {"type": "string", "minLength": 1},
                    "score": {"type": "number"},
                    "text": {"type": "string", "minLength": 1},
                },
            },
        },
        "notes": {"type": "array", "items": {"type": "string"}},
        "model": {"type": "string", "minLength": 1},
        "timings_ms": {
            "type": "object",
            "additionalProperties": False,
            "required": sorted(TIMINGS),
            "properties": {k: {"type": "number", "minimum": 0} for k in TIMINGS},
        },
    },
}
