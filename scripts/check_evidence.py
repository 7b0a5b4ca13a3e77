"""Is every `evidence` excerpt of the Debian dev questions in the extracted text of its source document?

Usage: PYTHONPATH=. python scripts/check_evidence.py [corpus folder] [questions file]
Whitespace is normalised on both sides; excerpts separated by ' … ' are checked one by one. An excerpt found
only in a region labelled boilerplate (kept out of retrieval) is reported too.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from rag.documents import load_document

ROOT = Path(__file__).resolve().parent.parent
corpus = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests/data/debian/corpus"
questions = Path(sys.argv[2]) if len(sys.argv) > 2 else corpus.parent / "questions_dev.jsonl"
if not corpus.is_dir():  # the corpus is gitignored: fall back to the main checkout's copy
    corpus = Path("/work/main/tests/data/debian/corpus")
    questions = corpus.parent / "questions_dev.jsonl"

flat = lambda s: " ".join(s.split())  # noqa: E731
docs: dict = {}
texts: dict[str, str] = {}
found = total = hidden = 0
for line in questions.read_text(encoding="utf-8").splitlines():
    row = json.loads(line)
    if not row.get("source"):
        continue
    if row["source"] not in texts:
        docs[row["source"]] = load_document(corpus / row["source"])
        texts[row["source"]] = flat(docs[row["source"]].text)
    parts = [p for p in row["evidence"].split(" … ") if p.strip()]
    missing = [p for p in parts if flat(p) not in texts[row["source"]]]
    total += 1
    found += not missing
    for part in missing:
        print(f"MISSING {row['id']} {row['source']}: {part!r}")
    doc = docs[row["source"]]
    for part in parts:
        pattern = r"\s+".join(map(re.escape, part.split()))
        places = [m.start() for m in re.finditer(pattern, doc.text)]
        if places and all(doc.label_at(p) == "boilerplate" for p in places):
            hidden += 1
            print(f"BOILERPLATE {row['id']} {row['source']}: {part!r}")
print(f"{found}/{total} questions have all their evidence in the extracted text; {hidden} excerpts only in boilerplate")
