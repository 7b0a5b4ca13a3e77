"""Read .txt, .md, .html and .pdf files into clean text with metadata, labelled regions and a map back to the source."""
from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
METADATA_FILE = "sources.json"
MAX_FILE_BYTES = 50 * 1024 * 1024


class DocumentError(Exception):
    """A file that cannot become a document; str() is a one-line message naming the file."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass(frozen=True)
class Region:
    """A labelled span of the clean text (reader comment, boilerplate...)."""

    start: int
    end: int
    label: str


@dataclass(frozen=True)
class Segment:
    """Clean text [start, start+length) comes from source [source_start, source_start+source_length)."""

    start: int
    length: int
    source_start: int
    source_length: int


@dataclass
class Document:
    doc_id: str
    source: str
    title: str
    text: str
    sha256: str
    metadata: dict = field(default_factory=dict)
    regions: list[Region] = field(default_factory=list)
    source_map: list[Segment] = field(default_factory=list)

    def label_at(self, offset: int) -> str:
        """Label of the region holding this offset ('article' when unlabelled)."""
        holding = [r for r in self.regions if r.start <= offset < r.end]
        # The innermost region wins: a boilerplate line inside a comment is boilerplate.
        return min(holding, key=lambda r: r.end - r.start).label if holding else "article"

    def to_source_offset(self, offset: int) -> int:
        """Offset in the original file (bytes of a PDF page excepted) of a clean-text offset."""
        # The segment holding the offset wins: at a boundary, the text after removed markup maps past it.
        for seg in self.source_map:
            if seg.start <= offset < seg.start + seg.length:
                return seg.source_start + min(offset - seg.start, seg.source_length)
        # The end of the text maps to the end of the last segment.
        for seg in reversed(self.source_map):
            if offset == seg.start + seg.length:
                return seg.source_start + seg.source_length
        return offset

    def to_dict(self) -> dict:
        return {
            "doc_id": self.doc_id,
            "source": self.source,
            "title": self.title,
            "text": self.text,
            "sha256": self.sha256,
            "metadata": self.metadata,
            "regions": [[r.start, r.end, r.label] for r in self.regions],
            "source_map": [[s.start, s.length, s.source_start, s.source_length] for s in self.source_map],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Document":
        return cls(
            doc_id=data["doc_id"],
            source=data["source"],
            title=data["title"],
            text=data["text"],
            sha256=data["sha256"],
            metadata=data.get("metadata", {}),
            regions=[Region(*r) for r in data.get("regions", [])],
            source_map=[Segment(*s) for s in data.get("source_map", [])],
        )


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
            errors.append(DocumentError(path, "no such file or folder"))
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
    raw = _read_bytes(path)
    metadata = load_metadata(path)
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        text, source_map, found_title = _extract_pdf(path, raw)
    elif suffix in (".html", ".htm"):
        text, source_map, found_title = _extract_html(_decode(path, raw))
    elif suffix in (".md", ".markdown"):
        text, source_map = _strip_spans(_decode(path, raw), _markdown_spans)
        found_title = _first_line_title(text, strip_hashes=True)
    elif suffix == ".txt":
        text, source_map = _strip_spans(_decode(path, raw), _tag_spans)
        found_title = _first_line_title(text)
    else:
        raise DocumentError(path, f"unsupported file type '{suffix}' (use {', '.join(SUPPORTED_SUFFIXES)})")
    if not text.strip():
        raise DocumentError(path, "no text could be extracted (empty, or a scanned PDF without text)")
    digest = hashlib.sha256(raw + json.dumps(metadata, sort_keys=True).encode()).hexdigest()
    title = str(metadata.get("title") or found_title or path.stem)
    return Document(
        doc_id=doc_id or slugify(path.stem),
        source=display_path(path),
        title=title,
        text=text,
        sha256=digest,
        metadata={"format": suffix.lstrip("."), "path": str(path.resolve()), **metadata},
        regions=label_regions(text, metadata.get("regions", [])),
        source_map=source_map,
    )


def file_digest(path: Path) -> str:
    """Digest that load_document would give, without extracting text (to skip unchanged files cheaply)."""
    raw = _read_bytes(path)
    return hashlib.sha256(raw + json.dumps(load_metadata(path), sort_keys=True).encode()).hexdigest()


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise DocumentError(path, "no such file")
    if not path.is_file():
        raise DocumentError(path, "not a regular file")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DocumentError(path, f"too large ({size // 1_000_000} MB, limit {MAX_FILE_BYTES // 1_000_000} MB)")
        raw = path.read_bytes()
    except PermissionError:
        raise DocumentError(path, "permission denied") from None
    except OSError as exc:
        raise DocumentError(path, f"unreadable ({exc.strerror or exc})") from None
    if not raw.strip():
        raise DocumentError(path, "empty file")
    return raw


def _decode(path: Path, raw: bytes) -> str:
    """UTF-8 text with normalized newlines; binary or other encodings are refused, not guessed."""
    if b"\x00" in raw[:8192] or raw[:5] == b"%PDF-" or raw[:4] in (b"PK\x03\x04", b"\x7fELF"):
        raise DocumentError(path, "binary content, not text (wrong extension?)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(path, f"not valid UTF-8 (byte {exc.start}); save it as UTF-8") from None
    controls = sum(1 for ch in text[:8192] if unicodedata.category(ch) == "Cc" and ch not in "\n\r\t\f")
    if controls > 0.01 * min(len(text), 8192):
        raise DocumentError(path, "binary content, not text (wrong extension?)")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _first_line_title(text: str, strip_hashes: bool = False) -> str:
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip() if strip_hashes else line.strip()
        if line:
            return line if len(line) <= 200 else ""
    return ""


# ---------------------------------------------------------------- markup removal with offsets

_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9-]*(?:\s[^<>]*)?/?>|<!--.*?-->", re.DOTALL)
_MD_PATTERNS = [
    re.compile(r"^```[^\n]*\n?", re.MULTILINE),  # code fences
    re.compile(r"^#{1,6}[ \t]+", re.MULTILINE),  # heading marks
    re.compile(r"^[ \t]*>[ \t]?", re.MULTILINE),  # block quotes
    re.compile(r"!\[[^\]]*\]\([^)]*\)"),  # images
    re.compile(r"(?<=\])\([^)\s]*(?:\s+\"[^\"]*\")?\)"),  # link targets
    re.compile(r"\[(?=[^\]]*\]\()|(?<=[^\\])\](?=\()"),  # link brackets
    re.compile(r"\*\*|__|(?<![\w*])\*(?=\S)|(?<=\S)\*(?![\w*])|`"),  # emphasis and code marks
    re.compile(r"(?<![\w_])_(?=[^\s_])|(?<=[^\s_])_(?![\w_])"),  # _emphasis_ (not snake_case)
]


def _tag_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _TAG.finditer(text)]


def _markdown_spans(text: str) -> list[tuple[int, int]]:
    spans = _tag_spans(text)
    for pattern in _MD_PATTERNS:
        spans.extend(m.span() for m in pattern.finditer(text) if m.end() > m.start())
    return spans


def _strip_spans(source: str, finder) -> tuple[str, list[Segment]]:
    """Remove the spans the finder returns; keep a segment map from clean text back to the source."""
    spans = sorted(finder(source))
    pieces: list[str] = []
    segments: list[Segment] = []
    pos = 0
    out_len = 0
    for start, end in spans + [(len(source), len(source))]:
        if start < pos:
            pos = max(pos, end)
            continue
        if start > pos:
            piece = source[pos:start]
            pieces.append(piece)
            segments.append(Segment(out_len, len(piece), pos, len(piece)))
            out_len += len(piece)
        pos = max(pos, end)
    return "".join(pieces), segments


# ---------------------------------------------------------------- HTML

_BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "section",
    "article", "header", "footer", "blockquote", "pre", "hr", "dd", "dt", "figcaption", "main", "aside",
}
_SKIP_TAGS = {"script", "style", "noscript", "template", "head", "svg", "iframe", "object", "embed", "nav", "button"}


class _TextExtractor(HTMLParser):
    """Collects visible text of an HTML page with the source offset of each piece."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = source
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", source)]
        self.pieces: list[tuple[str, int, int]] = []  # text, source start, source length
        self.skip_depth = 0
        self.title = ""
        self.h1 = ""
        self._in: str | None = None

    def _offset(self) -> int:
        line, col = self.getpos()
        return self.line_starts[line - 1] + col

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in ("title", "h1"):
            self._in = tag
        if tag in _SKIP_TAGS and tag != "title":
            self.skip_depth += 1
        elif tag in _BLOCK_TAGS:
            self.pieces.append(("\n", self._offset(), 0))

    def handle_startendtag(self, tag: str, attrs) -> None:
        if tag in _BLOCK_TAGS:
            self.pieces.append(("\n", self._offset(), 0))

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None
        if tag in _SKIP_TAGS and tag != "title":
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in _BLOCK_TAGS:
            self.pieces.append(("\n", self._offset(), 0))

    def handle_data(self, data: str) -> None:
        if self._in == "title":
            self.title += data
            return
        if self._in == "h1":
            self.h1 += data
        if self.skip_depth:
            return
        start = self._offset()
        raw_len = len(data)
        end = self.source.find("<", start)
        if end > start:
            raw_len = end - start
        self.pieces.append((data, start, raw_len))


def _extract_html(source: str) -> tuple[str, list[Segment], str]:
    parser = _TextExtractor(source)
    parser.feed(source)
    parser.close()
    text_parts: list[str] = []
    segments: list[Segment] = []
    out_len = 0
    for data, src_start, src_len in parser.pieces:
        # Collapse runs of whitespace the way a browser renders them, keeping paragraph breaks.
        data = re.sub(r"[ \t\r\f\v]+", " ", data)
        data = re.sub(r" *\n[ \n]*", "\n", data)
        if data == "\n" or data.startswith("\n"):
            if not text_parts or text_parts[-1].endswith("\n"):
                data = data.lstrip("\n")
        if text_parts and text_parts[-1].endswith(" ") and data.startswith(" "):
            data = data[1:]
        if not data:
            continue
        text_parts.append(data)
        segments.append(Segment(out_len, len(data), src_start, src_len))
        out_len += len(data)
    text = "".join(text_parts)
    stripped = text.rstrip()
    title = " ".join(parser.title.split()) or " ".join(parser.h1.split())
    return stripped, _clip_segments(segments, len(stripped)), title


def _clip_segments(segments: list[Segment], length: int) -> list[Segment]:
    return [
        Segment(s.start, min(s.length, length - s.start), s.source_start, s.source_length)
        for s in segments
        if s.start < length
    ]


# ---------------------------------------------------------------- PDF


def _extract_pdf(path: Path, raw: bytes) -> tuple[str, list[Segment], str]:
    """Text of every page; the source map points each page's text at its page number."""
    import io
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    if not raw.startswith(b"%PDF-"):
        raise DocumentError(path, "not a PDF file (no %PDF header)")
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted:
            raise DocumentError(path, "encrypted PDF")
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except DocumentError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise DocumentError(path, f"corrupt or unreadable PDF ({type(exc).__name__})") from None
    parts: list[str] = []
    segments: list[Segment] = []
    out_len = 0
    for number, page_text in enumerate(pages, start=1):
        page_text = page_text.replace("\r\n", "\n").strip()
        if not page_text:
            continue
        if parts:
            parts.append("\n\n")
            out_len += 2
        parts.append(page_text)
        # For a PDF, 'source_start' is the page number: offsets inside a compressed stream mean nothing.
        segments.append(Segment(out_len, len(page_text), number, 0))
        out_len += len(page_text)
    text = "".join(parts)
    return text, segments, str(meta_title).strip() or _first_line_title(text)


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
