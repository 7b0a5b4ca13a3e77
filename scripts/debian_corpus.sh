#!/usr/bin/env bash
# Build the Debian documentation corpus used by tests/data/debian/questions_*.jsonl.
#
# The documents are NOT shipped with the project: they are copied from Debian
# documentation packages installed on this machine (installed with apt-get when
# missing, which needs root). Output: tests/data/debian/corpus/ (gitignored)
# plus MANIFEST.txt beside the corpus folder (file, source package + version, source path, sha256), kept out
# of the folder so that indexing the folder indexes documents only.
#
# Idempotent: re-running re-creates the same files (same package versions ->
# same bytes). Usage:  bash scripts/debian_corpus.sh [debian|newuser]
#   debian  (default) tests/data/debian/corpus: the Debian dev, test and probe splits
#   newuser tests/data/newuser/corpus: other Debian handbook and FAQ chapters, python3-doc (Sphinx HTML),
#           pip's Markdown, a PDF specification and man pages, for tests/data/newuser/questions_dev.jsonl
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SET="${1:-debian}"
case "$SET" in
  debian) OUT="$ROOT/tests/data/debian/corpus" ;;
  newuser) OUT="$ROOT/tests/data/newuser/corpus" ;;
  *) echo "usage: bash scripts/debian_corpus.sh [debian|newuser]" >&2; exit 2 ;;
esac

FAQ=/usr/share/doc/debian/FAQ
HB=/usr/share/doc/debian-handbook/html
MAN=/usr/share/man

# ---------------------------------------------------------------------------
# Selection: package | path inside the package | target file name
#   *.html  -> copied as is
#   *.gz    -> gunzipped (non man page)
#   man page (path under /usr/share/man, target *.txt) -> rendered to UTF-8 text
# ---------------------------------------------------------------------------
SELECTION=(
  # Debian FAQ, chapter 7 "Basics of the Debian package management system", 3 languages
  "debian-faq    | $FAQ/pkg-basics.en.html           | en-faq-pkg-basics.html"
  "debian-faq-de | $FAQ/de/pkg-basics.de.html        | de-faq-pkg-basics.html"
  "debian-faq-fr | $FAQ/fr/pkg-basics.fr.html        | fr-faq-pkg-basics.html"
  # Debian FAQ, chapter 8 "The Debian package management tools", 2 languages
  "debian-faq    | $FAQ/pkgtools.en.html             | en-faq-pkgtools.html"
  "debian-faq-fr | $FAQ/fr/pkgtools.fr.html          | fr-faq-pkgtools.html"
  # Debian FAQ, single-language chapters
  "debian-faq-de | $FAQ/de/uptodate.de.html          | de-faq-uptodate.html"
  "debian-faq    | $FAQ/support.en.html              | en-faq-support.html"
  # Debian Administrator's Handbook, section 2.2 "How to migrate" (HTML table of OS/architectures)
  "debian-handbook | $HB/en-US/sect.how-to-migrate.html | en-handbook-migrate.html"
  # Man pages (plain text). crontab(1) fr, crontab(5) de (has a field/value table), fstab(5) de+es, hosts(5) it
  "manpages-fr   | $MAN/fr/man1/crontab.1.gz         | fr-man-crontab.txt"
  "manpages-de   | $MAN/de/man5/crontab.5.gz         | de-man-crontab.txt"
  "manpages-de   | $MAN/de/man5/fstab.5.gz           | de-man-fstab.txt"
  "manpages-es   | $MAN/es/man5/fstab.5.gz           | es-man-fstab.txt"
  "manpages-it   | $MAN/it/man5/hosts.5.gz           | it-man-hosts.txt"
)
if [[ "$SET" == newuser ]]; then
  PYDOC=/usr/share/doc/python3.11/html
  SELECTION=(
    # The handbook's chapters with sidebars and an example closing the page, and FAQ chapters in de and fr
    "debian-handbook | $HB/en-US/sect.asynchronous-task-scheduling-anacron.html | en-handbook-anacron.html"
    "debian-handbook | $HB/en-US/sect.automatic-upgrades.html | en-handbook-automatic-upgrades.html"
    "debian-handbook | $HB/en-US/sect.apt-file.html | en-handbook-apt-file.html"
    "debian-faq-de | $FAQ/de/kernel.de.html | de-faq-kernel.html"
    "debian-faq-fr | $FAQ/fr/customizing.fr.html | fr-faq-customizing.html"
    # A generated manual (Sphinx), Markdown, a PDF, and man pages in three languages
    "python3.11-doc | $PYDOC/library/json.html | en-python-json.html"
    "python3-pip | /usr/share/doc/python3-pip/html/topics/authentication.md | en-pip-authentication.md"
    "shared-mime-info | /usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf | en-mime-spec.pdf"
    "manpages-de | $MAN/de/man5/anacrontab.5.gz | de-man-anacrontab.txt"
    "manpages-es | $MAN/es/man5/ethers.5.gz | es-man-ethers.txt"
    "dpkg-dev | $MAN/fr/man5/deb-md5sums.5.gz | fr-man-deb-md5sums.txt"
  )
fi

trim() { local s="$1"; s="${s#"${s%%[![:space:]]*}"}"; printf '%s' "${s%"${s##*[![:space:]]}"}"; }

# --- 1. packages -------------------------------------------------------------
pkgs=()
for entry in "${SELECTION[@]}"; do
  IFS='|' read -r pkg _ _ <<<"$entry"
  pkgs+=("$(trim "$pkg")")
done
mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" man-db groff-base bsdextrautils | sort -u)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "WARNING: missing Debian packages: ${missing[*]}" >&2
    echo "WARNING: run as root (or: sudo apt-get install ${missing[*]}) and re-run this script." >&2
    exit 1
  fi
  echo "Installing: ${missing[*]}"
  # man pages of manpages-* packages must not be excluded by dpkg path filters
  if grep -rqs 'path-exclude.*/usr/share/\(man\|doc\)' /etc/dpkg/dpkg.cfg.d/; then
    echo "WARNING: /etc/dpkg/dpkg.cfg.d excludes docs or man pages; files may be missing" >&2
  fi
  apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

# --- 2. documents ----------------------------------------------------------
mkdir -p "$OUT"
MANIFEST_FILE="$(dirname "$OUT")/MANIFEST.txt"
manifest="$MANIFEST_FILE.tmp"
{
  echo "# Debian documentation corpus, built by scripts/debian_corpus.sh"
  echo "# file	package=version	source path	sha256"
} >"$manifest"

for entry in "${SELECTION[@]}"; do
  IFS='|' read -r pkg src dst <<<"$entry"
  pkg="$(trim "$pkg")"; src="$(trim "$src")"; dst="$(trim "$dst")"
  [[ -f "$src" ]] || { echo "ERROR: $src not found (package $pkg)" >&2; exit 1; }
  tmp="$OUT/.$dst.tmp"
  if [[ "$src" == "$MAN"/* && "$dst" == *.txt ]]; then
    # Render with groff UTF-8 output, 100 columns, no hyphenation/justification,
    # then strip overstrike (bold/underline) sequences with col -bx.
    LC_ALL=C.UTF-8 LANG=C.UTF-8 MANWIDTH=100 MAN_KEEP_FORMATTING= \
      man --nh --nj -l "$src" 2>/dev/null | col -bx >"$tmp"
  elif [[ "$src" == *.gz ]]; then
    gunzip -c "$src" >"$tmp"
  else
    cp "$src" "$tmp"
  fi
  if [[ "$dst" != *.pdf ]] && ! iconv -f UTF-8 -t UTF-8 "$tmp" >/dev/null 2>&1; then
    echo "ERROR: $dst is not valid UTF-8" >&2; exit 1
  fi
  [[ -s "$tmp" ]] || { echo "ERROR: $dst is empty" >&2; exit 1; }
  mv -f "$tmp" "$OUT/$dst"
  ver="$(dpkg-query -W -f='${Version}' "$pkg")"
  sum="$(sha256sum "$OUT/$dst" | cut -d' ' -f1)"
  printf '%s\t%s=%s\t%s\t%s\n' "$dst" "$pkg" "$ver" "$src" "$sum" >>"$manifest"
  printf '%-28s %7d bytes  <- %s\n' "$dst" "$(stat -c %s "$OUT/$dst")" "$pkg"
done
mv -f "$manifest" "$MANIFEST_FILE"
rm -f "$OUT/MANIFEST.txt"  # where an older version of this script put it

# remove stale files from an older selection
for f in "$OUT"/*; do
  b="$(basename "$f")"
  grep -q "^$b	" "$MANIFEST_FILE" || { echo "removing stale $b"; rm -f "$f"; }
done
echo "Corpus: $OUT ($(du -sb "$OUT" | cut -f1) bytes)"
