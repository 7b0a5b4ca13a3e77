"""The web UI in a real (Debian) Chromium, driven by Playwright against the app launched in this process.

One page per test; every request the page makes is recorded and must stay on the local server. The pages are
French (locale fr-FR: navigator.language and Accept-Language), as the questions and the documents are, so the
page's words are the French ones; test_the_page_speaks_the_browsers_language covers the other languages.
Screenshots go to test-output/ (gitignored).
"""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conftest import BROWSER_MARKS, DEVELOPPEZ, FUTURISM, ORIGINAL_DOCS, ROOT, require_browser

require_browser()
pytestmark = BROWSER_MARKS

WAIT_MS = 120_000  # one answer takes 3-8 s on an idle machine; much more when the CPU is shared
OUT = ROOT / "test-output"

ZORBLAX_MD = "# Zorblax\n\nLa société Zorblax fabrique des parapluies violets à Lyon depuis 1987.\n"
# Markup that must stay text: a script, an event handler, and entities that decode to tags.
QUIXOTEL_HTML = """<!doctype html>
<html><head><meta charset="utf-8">
<title>Quixotel &lt;script&gt;window.__xss=3&lt;/script&gt; lampes</title>
<script>window.__xss=1</script></head>
<body>
<h1>La société Quixotel</h1>
<p>La société Quixotel produit des lampes orange à Nantes depuis 1992. <img src=x onerror="window.__xss=2"></p>
<p>Son slogan s'écrit &lt;b&gt;bold&lt;/b&gt; sur chaque boîte, avec &lt;img src=y onerror="window.__xss=4"&gt; en petit.</p>
</body></html>
"""


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def page(browser, ui_server):
    """A fresh page on the app, loaded and Ready; page.requests lists every URL it asked for since before load."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="fr-FR")
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.requests = requests
    page.goto(ui_server.url)
    page.wait_for_selector("#question textarea")
    page.wait_for_function("(document.querySelector('#status')?.innerText || '').includes('Prêt')")
    yield page
    context.close()


def assert_only_local_requests(page, port: int) -> None:
    assert page.requests, "no request was recorded"
    outside = [
        url
        for url in page.requests
        if urlsplit(url).scheme not in ("data", "blob") and urlsplit(url).netloc != f"127.0.0.1:{port}"
    ]
    assert not outside, f"requests left the local server: {outside[:10]}"


def screenshot(page, name: str, settle: bool = True) -> None:
    """Save the viewport once transitions have ended (toasts fly in) and, with settle, pending outputs are shown."""
    OUT.mkdir(exist_ok=True)
    if settle:
        page.wait_for_function("document.querySelectorAll('.pending, [data-testid=status-tracker].translucent:not(.hide)').length === 0")
    page.wait_for_timeout(600)
    page.screenshot(path=str(OUT / name))


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def ask(page, question: str, turn: int) -> None:
    """Send a question and wait for the checked answer of this turn (the timing line ends every final answer)."""
    page.fill("#question textarea", question)
    page.click("#send")
    page.wait_for_function(f"document.querySelectorAll('#chat .timing').length >= {turn}")


def last_answer_text(page) -> str:
    """The text of the last answer bubble in the chat."""
    return page.locator('#chat [data-testid="bot"]').last.inner_text()


def cite_offsets(card) -> tuple[int, int]:
    match = re.search(r"(\d+)\s*[–-]\s*(\d+)\s*$", card.locator(".cite-pub").inner_text().strip())
    assert match, card.locator(".cite-pub").inner_text()
    return int(match.group(1)), int(match.group(2))


def document_of(card, state):
    """The indexed document a source card shows, found by the source path printed on the card."""
    source = card.locator(".cite-pub code").text_content()
    matches = [doc for doc in state.retriever.index.documents.values() if doc.source == source]
    assert len(matches) == 1, source
    return matches[0]


# ---------------------------------------------------------------- tests


def test_chat_citation_upload_and_escaping(page, ui_server, tmp_path):
    state = ui_server.state

    # 1. A question about docs/: streamed answer with [n] links to source cards.
    ask(page, "Combien Meta a-t-il investi dans Scale AI ?", turn=1)
    link = page.locator('#chat a[href^="#cite-"]', has_text="[1]").first
    link.wait_for()
    assert "14" in last_answer_text(page)
    screenshot(page, "ui-answer.png")

    # 2. Clicking [1] shows its card with the quote highlighted: exactly the document's text at the shown offsets.
    target = link.get_attribute("href")
    assert target == "#cite-1-1"
    link.click()
    card = page.locator(".cite-card.active")
    card.wait_for(state="visible")
    assert card.get_attribute("id") == target[1:]
    mark = page.locator(".cite-card.active mark.quote").first
    assert mark.is_visible()
    quote = mark.text_content()
    start, end = cite_offsets(card)
    doc = document_of(card, state)
    assert quote == doc.text[start:end]
    assert "14 milliards" in quote, quote
    assert page.evaluate("location.href") == ui_server.url, "the [1] link navigated away"
    screenshot(page, "ui-citation.png")

    # 3. Upload a Markdown and an HTML file (the HTML carries markup that must never run), index them.
    md = tmp_path / "zorblax.md"
    md.write_text(ZORBLAX_MD, encoding="utf-8")
    html_file = tmp_path / "quixotel.html"
    html_file.write_text(QUIXOTEL_HTML, encoding="utf-8")
    open_tab(page, "Documents")
    page.locator("#upload input[type=file]").set_input_files([str(md), str(html_file)])
    page.locator("#upload").get_by_text("quixotel").wait_for()
    page.click("#index-files")
    page.wait_for_function(
        "['✅ zorblax', '✅ quixotel'].every((line) => (document.querySelector('#upload-log textarea')?.value || '').includes(line))"
    )
    log = page.locator("#upload-log textarea").input_value()
    assert "❌" not in log, log
    table = page.locator("#documents")
    page.wait_for_function("(document.querySelector('#documents')?.innerText || '').includes('zorblax')")
    for doc_id in [DEVELOPPEZ, FUTURISM, "zorblax", "quixotel"]:
        assert doc_id in table.inner_text()
    assert {"zorblax", "quixotel"} <= set(state.retriever.index.documents)
    assert page.evaluate("typeof window.__xss") == "undefined"
    screenshot(page, "ui-documents.png")

    # 4. The new document answers questions at once, without a restart.
    open_tab(page, "Chat")
    ask(page, "Que fabrique la société Zorblax ?", turn=2)
    answer = last_answer_text(page)
    assert "parapluie" in answer.lower(), answer

    # 5. A question citing the HTML document: its text is shown, its markup never becomes elements or runs.
    ask(page, "Que produit la société Quixotel ?", turn=3)
    card = page.locator('.cite-card.current[id^="cite-3-"]').first
    card.wait_for(state="visible")
    assert document_of(card, state).doc_id == "quixotel"
    text = card.text_content()
    assert "<b>bold</b>" in text, text  # the entities decoded to characters, shown as typed
    assert "<script>window.__xss=3</script>" in card.locator(".cite-head").text_content()
    start, end = cite_offsets(card)
    assert card.locator("mark.quote").first.text_content() == state.retriever.index.documents["quixotel"].text[start:end]
    page.wait_for_timeout(500)  # give an injected handler a chance to fire
    assert page.evaluate("typeof window.__xss") == "undefined"
    injected = page.evaluate(
        """() => ({
          scripts: [...document.scripts].filter((s) => s.textContent.includes('__xss')).length,
          elements: document.querySelectorAll('#sources script, #sources img, #sources b, #chat script, #chat img[src="x"], #documents script').length,
          handlers: document.querySelectorAll('[onerror]').length,
        })"""
    )
    assert injected == {"scripts": 0, "elements": 0, "handlers": 0}, injected
    assert not [u for u in page.requests if urlsplit(u).path in ("/x", "/y")], "an injected <img> was fetched"
    screenshot(page, "ui-escaping.png")

    assert_only_local_requests(page, ui_server.port)


@pytest.mark.parametrize("name", ["outil.exe", "donnees.xls"])
def test_unsupported_upload_is_rejected_naming_the_file(page, ui_server, tmp_path, name):
    """A program, and a spreadsheet in Excel's old binary format (.xlsx is read, .xls is not)."""
    path = tmp_path / name
    path.write_bytes(b"MZ\x90\x00 not a document" if name.endswith(".exe") else b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 spreadsheet")
    open_tab(page, "Documents")
    page.locator("#upload input[type=file]").set_input_files([str(path)])
    toast = page.locator(".toast-body", has_text=name)
    toast.wait_for(state="visible")
    message = toast.inner_text()
    assert "Invalid file type" in message, message  # Gradio's own check, in the browser, in English in every locale
    screenshot(page, f"ui-rejected-{Path(name).suffix[1:]}.png", settle=False)

    # Indexing now adds nothing; the documents are still there.
    page.click("#index-files")
    page.wait_for_function("(document.querySelector('#upload-log textarea')?.value || '').trim().length > 0")
    assert page.locator("#upload-log textarea").input_value() == "Aucun fichier."
    table = page.locator("#documents").inner_text()
    assert DEVELOPPEZ in table and FUTURISM in table, table
    assert Path(name).stem not in table
    assert not list(ui_server.settings.uploads_dir.glob(f"{Path(name).stem}*"))
    assert ORIGINAL_DOCS <= set(ui_server.state.retriever.index.documents)
    assert_only_local_requests(page, ui_server.port)


def test_a_damaged_docx_fails_alone_and_the_index_stays(page, ui_server, tmp_path):
    """A supported type whose content cannot be read: one error line naming it, the documents still there."""
    path = tmp_path / "rapport.docx"
    path.write_bytes(b"PK\x03\x04 not a document")
    open_tab(page, "Documents")
    page.locator("#upload input[type=file]").set_input_files([str(path)])
    page.click("#index-files")
    page.wait_for_function("(document.querySelector('#upload-log textarea')?.value || '').includes('rapport.docx')")
    log = page.locator("#upload-log textarea").input_value()
    assert "❌" in log and "rapport.docx" in log and "✅" not in log, log
    table = page.locator("#documents").inner_text()
    assert DEVELOPPEZ in table and FUTURISM in table and "rapport" not in table, table
    assert ORIGINAL_DOCS <= set(ui_server.state.retriever.index.documents)
    assert_only_local_requests(page, ui_server.port)


def test_a_page_opened_after_loading_does_not_poll(page, ui_server):
    """The loading poll stops at once on a page opened once the app is ready: a poll answered after an upload's
    reply would put the table from before the upload back (it did, in CI)."""
    page.wait_for_timeout(500)  # the load event's own requests end
    since = len(page.requests)
    page.wait_for_timeout(3000)  # three ticks of the poll
    assert page.requests[since:] == [], page.requests[since:]


# Timestamps (performance.now) of what the page showed first: the evidence in the sources panel, the writing
# state, the first streamed word of the answer (the cursor ▍ follows it), the checked answer (its timing line).
WATCH_FIRSTS = """
() => {
  window.__firsts = {};
  const first = (key) => { if (!(key in window.__firsts)) window.__firsts[key] = performance.now(); };
  new MutationObserver(() => {
    if (document.querySelector('#sources .evidence-card mark.unit')) first('evidence');
    if ((document.querySelector('#sources .writing')?.innerText || '').includes('Rédaction de la réponse')) first('writing');
    const bots = document.querySelectorAll('#chat [data-testid="bot"]');
    if (bots.length && bots[bots.length - 1].innerText.includes('▍')) first('word');
    if (document.querySelector('#chat .timing')) first('answer');
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}
"""


def test_evidence_shows_before_the_first_word_then_the_citations(page, ui_server):
    """Typed key by key and sent: the passages to be read, their units marked, appear in the sources panel with a
    "writing" state before the answer's first word; the checked answer then replaces them with its citations."""
    state = ui_server.state
    page.evaluate(WATCH_FIRSTS)
    page.click("#question textarea")
    page.keyboard.type("Combien Meta a-t-il investi dans Scale AI ?", delay=40)
    page.click("#send")

    page.locator("#sources .evidence-card").first.wait_for(state="visible")
    assert "Rédaction de la réponse" in page.locator("#sources .writing").inner_text()
    cards = page.locator("#sources .evidence-card")
    for i in range(cards.count()):
        doc = state.retriever.index.documents[cards.nth(i).get_attribute("data-doc")]
        units = cards.nth(i).locator("mark.unit").all_text_contents()
        assert units and all(unit in doc.text for unit in units)
    assert "14 milliards" in page.locator("#sources").inner_text()
    screenshot(page, "ui-evidence.png", settle=False)

    page.wait_for_function("document.querySelectorAll('#chat .timing').length >= 1")
    firsts = page.evaluate("window.__firsts")
    assert {"evidence", "writing", "word", "answer"} <= set(firsts), firsts
    assert firsts["evidence"] < firsts["word"] < firsts["answer"], firsts
    assert firsts["writing"] < firsts["word"], firsts

    # The checked answer: its [n] links and its cards replace the evidence and the writing state.
    assert "14" in last_answer_text(page)
    page.locator('#chat a[href^="#cite-"]').first.wait_for()
    page.locator("#sources .cite-card.current mark.quote").first.wait_for(state="visible")
    assert page.locator("#sources .evidence-card").count() == 0
    assert page.locator("#sources .writing").count() == 0
    assert_only_local_requests(page, ui_server.port)


def test_typing_prefills_the_prompt_and_a_question_sent_meanwhile_is_answered(page, ui_server):
    """Typed at 5 characters per second, the question has the idle model read its prompt while it is typed; sent
    at once, while that prefill may still be reading, it is answered with its citations (the prefill yields)."""
    import time

    state = ui_server.state
    before = len(state.prefills)
    page.click("#question textarea")
    page.keyboard.type("Quel âge a Alexandr Wang ?", delay=200)
    deadline = time.monotonic() + 30
    while not state.queue.busy and len(state.prefills) == before:  # no prefill has started yet
        assert time.monotonic() < deadline, "typing never started a prefill"
        time.sleep(0.05)
    page.click("#send")
    page.wait_for_function("document.querySelectorAll('#chat .timing').length >= 1")
    answer = last_answer_text(page)
    assert "28" in answer or "29" in answer, answer
    page.locator('#chat a[href^="#cite-"]').first.wait_for()
    prefills = state.prefills[before:]
    assert prefills and all("Quel âge a Alexandr Wang ?".startswith(text) for text, _ in prefills), prefills
    assert any(cached > 0 for _, cached in prefills), prefills
    assert_only_local_requests(page, ui_server.port)


# What the page says in each language, as a reader of the browser's language sees it. Playwright's Chromium
# speaks en-US unless told (navigator.language "en-US", Accept-Language "en-US,en;q=0.9"); a context's locale
# sets both. Italian matters apart: Gradio 6.31's frontend has no Italian of its own, so it would show its
# fallback (English) labels; the page's load handler sets them in the request's language.
SPOKEN = {
    "en-US": {
        "title": "Ask your documents", "tabs": ["Chat", "Documents", "Settings", "API"], "send": "Send",
        "placeholder": "Ask your question, in your language…", "ready": "Ready · ",
        "sources": "Cited passages appear here.", "column": "title", "no_file": "No file.",
        "choose": "Choose a document.",
    },
    "fr-FR": {
        "title": "Questions sur vos documents", "tabs": ["Chat", "Documents", "Réglages", "API"], "send": "Envoyer",
        "placeholder": "Posez votre question, dans votre langue…", "ready": "Prêt · ",
        "sources": "Les passages cités apparaîtront ici.", "column": "titre", "no_file": "Aucun fichier.",
        "choose": "Choisissez un document.",
    },
    "de-DE": {
        "title": "Fragen an Ihre Dokumente", "tabs": ["Chat", "Dokumente", "Einstellungen", "API"], "send": "Senden",
        "placeholder": "Stellen Sie Ihre Frage, in Ihrer Sprache…", "ready": "Bereit · ",
        "sources": "Hier erscheinen die zitierten Passagen.", "column": "Titel", "no_file": "Keine Datei.",
        "choose": "Wählen Sie ein Dokument.",
    },
    "it-IT": {
        "title": "Domande sui vostri documenti", "tabs": ["Chat", "Documenti", "Impostazioni", "API"], "send": "Invia",
        "placeholder": "Fate la vostra domanda, nella vostra lingua…", "ready": "Pronto · ",
        "sources": "I passaggi citati appariranno qui.", "column": "titolo", "no_file": "Nessun file.",
        "choose": "Scegliete un documento.",
    },
}


@pytest.mark.parametrize("locale", list(SPOKEN))
def test_the_page_speaks_the_browsers_language(browser, ui_server, locale):
    """Labels, tabs, the status line, the sources panel, the table's columns and the lines the handlers write are in
    the browser's language."""
    said = SPOKEN[locale]
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale=locale)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        page.goto(ui_server.url)
        page.wait_for_function(f"(document.querySelector('#status')?.innerText || '').includes({said['ready']!r})")
        page.wait_for_function(f"(document.querySelector('#send')?.innerText || '').trim() === {said['send']!r}")
        assert page.title() == said["title"]
        assert page.evaluate("document.documentElement.lang") == locale.split("-")[0]
        assert [tab.inner_text().strip() for tab in page.get_by_role("tab").all()] == said["tabs"]
        assert page.get_attribute("#question textarea", "placeholder") == said["placeholder"]
        assert page.locator("#sources").inner_text().strip() == said["sources"]

        open_tab(page, said["tabs"][1])
        assert said["column"] in page.locator("#documents").inner_text()
        page.click("#index-files")
        page.wait_for_function("(document.querySelector('#upload-log textarea')?.value || '').trim().length > 0")
        assert page.locator("#upload-log textarea").input_value() == said["no_file"]
        page.click("#remove")
        page.wait_for_function(f"(document.querySelector('#upload-log textarea')?.value || '') === {said['choose']!r}")
        screenshot(page, f"ui-{locale}.png")
    finally:
        context.close()


def test_upload_results_are_written_in_the_browsers_language(browser, ui_server, tmp_path):
    """A document added, added again unchanged, then removed, in a German page: each result line in German."""
    path = tmp_path / "wetterhahn.md"
    path.write_text("# Wetterhahn\n\nDie Firma Wetterhahn baut seit 1971 kupferne Wetterfahnen in Kiel.\n", encoding="utf-8")
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="de-DE")
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    log = "(document.querySelector('#upload-log textarea')?.value || '')"
    try:
        page.goto(ui_server.url)
        page.wait_for_function("(document.querySelector('#status')?.innerText || '').includes('Bereit')")
        documents = len(ui_server.state.retriever.index.documents)
        open_tab(page, "Dokumente")
        for expected in ("✅ wetterhahn", "= wetterhahn (unverändert)"):
            page.locator("#upload input[type=file]").set_input_files([str(path)])
            page.locator("#upload").get_by_text("wetterhahn").wait_for()
            page.click("#index-files")
            page.wait_for_function(f"{log} === {expected!r}")
        ready = f"Bereit · {documents + 1} Dokumente"
        page.wait_for_function(f"(document.querySelector('#status')?.innerText || '').includes({ready!r})")
        page.locator("#doc-pick input").click()
        page.get_by_role("option", name="wetterhahn", exact=False).click()
        page.click("#remove")
        page.wait_for_function(f"{log} === 'Entfernt: wetterhahn'")
        assert "wetterhahn" not in ui_server.state.retriever.index.documents
    finally:
        context.close()
