"""Scripts in a document, in a real (Debian) Chromium: uploaded through the page, cited in an answer, shown in the
chat, the sources panel, the whole-document view and the documents table.

The document carries `<script>alert(1)</script>`, `<img src=x onerror=alert(1)>`, `javascript:` links as Markdown
links, in its title and its text; the question carries markup too. Every `dialog` the page opens is recorded: there
must be none, the markup must be shown as text, and no element, handler or `javascript:` link may come of it.
One model answer.
"""
from __future__ import annotations

from conftest import BROWSER_MARKS, require_browser

require_browser()
pytestmark = BROWSER_MARKS

WAIT_MS = 180_000

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
MD_LINK = "[le site de Scriptol](javascript:alert(1))"
# Markdown whose text, once extracted, holds the markup literally (entities and code spans decode to it).
SCRIPTOL_MD = """# Scriptol &lt;script&gt;alert(1)&lt;/script&gt;

La société Scriptol vend des claviers verts à Brest depuis 2003. Son slogan s'écrit `<script>alert(1)</script>` sur chaque boîte, et son logo &lt;img src=x onerror=alert(1)&gt; en petit.

Voir [le site de Scriptol](javascript:alert(1)), [la brochure](https://example.org/brochure) ou [le formulaire](javascript:alert(document.cookie)).
"""
QUESTION = f"Que vend la société Scriptol ? {IMG}"


INJECTED = """() => ({
  scripts: [...document.scripts].filter((s) => s.textContent.includes('alert(')).length,
  elements: document.querySelectorAll('#chat script, #sources script, #documents script, #chat img[src="x"], #sources img, #documents img').length,
  handlers: document.querySelectorAll('[onerror], [onclick], [onload]').length,
  js_links: [...document.querySelectorAll('a[href]')].filter((a) => a.getAttribute('href').trim().toLowerCase().startsWith('javascript:')).length,
})"""
NOTHING = {"scripts": 0, "elements": 0, "handlers": 0, "js_links": 0}


def test_scripts_in_a_document_never_run_and_are_shown_as_text(browser, ui_server, tmp_path):
    state = ui_server.state
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="fr-FR")
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(f"{dialog.type}: {dialog.message}"), dialog.dismiss()))
    try:
        page.goto(ui_server.url)
        page.wait_for_selector("#question textarea")
        page.wait_for_function("(document.querySelector('#status')?.innerText || '').includes('Prêt')")  # fr-FR

        # Upload through the page.
        doc = tmp_path / "scriptol.md"
        doc.write_text(SCRIPTOL_MD, encoding="utf-8")
        page.get_by_role("tab", name="Documents").click()
        page.locator("#upload input[type=file]").set_input_files([str(doc)])
        page.locator("#upload").get_by_text("scriptol").wait_for()
        page.click("#index-files")
        page.wait_for_function("(document.querySelector('#upload-log textarea')?.value || '').includes('✅ scriptol')")
        indexed = state.retriever.index.documents["scriptol"]
        assert SCRIPT in indexed.title and IMG in indexed.text and MD_LINK in indexed.text, indexed.text
        page.wait_for_function("(document.querySelector('#documents')?.innerText || '').includes('scriptol')")
        assert f"Scriptol {SCRIPT}" in page.locator("#documents").inner_text()  # the title, as text

        # Ask about it: the question (with markup) and the answer in the chat, the cited passage in the panel.
        page.get_by_role("tab", name="Chat").click()
        page.fill("#question textarea", QUESTION)
        page.click("#send")
        page.wait_for_function("document.querySelectorAll('#chat .timing').length >= 1")
        assert IMG in page.locator('#chat [data-testid="user"]').last.inner_text()
        answer = page.locator('#chat [data-testid="bot"]').last.inner_text()
        assert "clavier" in answer.lower(), answer

        card = page.locator('.cite-card.current[id^="cite-1-"]').first
        card.wait_for(state="visible")
        assert card.locator(".cite-pub code").text_content().endswith("scriptol.md")
        assert SCRIPT in card.locator(".cite-head").text_content()
        shown = card.locator(".cite-context").text_content()
        assert SCRIPT in shown and IMG in shown, shown

        # The whole document, opened.
        card.locator("details.article summary").click()
        article = card.locator(".article-text")
        article.wait_for(state="visible")
        whole = article.text_content()
        assert whole == indexed.text, whole
        assert MD_LINK in whole and "[le formulaire](javascript:alert(document.cookie))" in whole

        page.wait_for_timeout(1000)  # give an injected handler a chance to fire
        injected = page.evaluate(INJECTED)
        assert injected == NOTHING, injected
        assert dialogs == [], dialogs
    finally:
        context.close()
