"""Reading the model's output: the fixed decline line, claims with the source numbers they cite, the live view."""
from __future__ import annotations

from rag.claims import StreamView, is_decline, parse_markers, split_claims, strip_markers


def test_the_decline_line_is_a_signal_not_a_phrase():
    assert is_decline("[0]")
    assert is_decline("  [0]\n")
    assert is_decline("")
    # A sentence that says something is not true is an answer like any other: its source decides.
    assert not is_decline("The warranty does not include water damage [1].")
    assert not is_decline("Les documents ne précisent pas la date [2].")


def test_claims_keep_the_numbers_they_cite():
    claims = split_claims("Il a 28 ans [3]. ChatGPT est sorti en novembre 2022 [1][4]. Voilà.", "fr")
    assert [c.text for c in claims] == ["Il a 28 ans.", "ChatGPT est sorti en novembre 2022.", "Voilà."]
    assert [c.cited for c in claims] == [[3], [1, 4], []]


def test_a_sentence_marked_with_the_decline_marker_is_marked_unsourced():
    claims = split_claims("apt-cache [0]. Run apt-cache search [2].", "en")
    assert [(c.text, c.cited, c.unsourced) for c in claims] == [("apt-cache.", [], True), ("Run apt-cache search.", [2], False)]


def test_a_marker_after_the_period_belongs_to_the_sentence_before():
    claims = split_claims("Wang is 28. [2] He leads the lab. [5]", "en")
    assert [(c.text, c.cited) for c in claims] == [("Wang is 28.", [2]), ("He leads the lab.", [5])]


def test_a_bare_marker_line_joins_the_previous_claim():
    claims = split_claims("Der Kernel verwaltet den Rechnernamen.\n[7]", "de")
    assert [(c.text, c.cited) for c in claims] == [("Der Kernel verwaltet den Rechnernamen.", [7])]


def test_markers_parse_lists_and_strip_cleanly():
    assert parse_markers("a [2, 3] b [3] c [1;4]") == [2, 3, 1, 4]
    assert strip_markers("ChatGPT [2] est sorti en 2022 [1].") == "ChatGPT est sorti en 2022."
    # the period closing up after a marker is not a dot of a path or of an ellipsis
    assert strip_markers("Install it with `dpkg -i ../*.deb` [3].") == "Install it with `dpkg -i ../*.deb`."
    assert strip_markers("It is done! [2].") == "It is done!" and strip_markers("Wait... [1]") == "Wait..."


def test_the_live_view_numbers_citations_in_order_of_appearance():
    view = StreamView("I cannot find the answer in the documents.")
    shown = "".join(view.feed(p) for p in ["It is 330 m tall [", "7", "]. It opened in 1889 [3", "] and [7]."]) + view.finish()
    assert shown == "It is 330 m tall [1]. It opened in 1889 [2] and [1]."


def test_the_live_view_shows_the_refusal_sentence_for_the_decline_line():
    view = StreamView("Ich finde die Antwort nicht in den Dokumenten.")
    assert view.feed(" [") == ""
    assert view.feed("0") == ""
    assert view.feed("]") == "Ich finde die Antwort nicht in den Dokumenten."
    assert view.finish() == ""


def test_the_live_view_does_not_hold_back_an_answer_opening_with_a_bracket_forever():
    view = StreamView("declined")
    assert view.feed("[") == ""
    assert view.feed("1") == ""  # "[1" may still be a marker...
    assert view.feed("] is the first line.") == "[1] is the first line."
