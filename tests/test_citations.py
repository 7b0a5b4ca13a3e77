"""Citation parsing, quote extraction and support checking, against the real documents and the real e5 model.

Passages are built from docs/ as indexed by the session fixture; the support checker uses the session's
multilingual-e5-small (the English-against-French case depends on it). No generation model runs here except
for Pipeline.finish, which only post-processes a canned raw answer.
"""
from __future__ import annotations

import random
import re

import pytest

from conftest import DEVELOPPEZ, FUTURISM
from rag.chunking import sentence_spans
from rag.citations import (
    MARKER,
    Citation,
    Passage,
    SupportChecker,
    is_decline,
    is_meta,
    parse_markers,
    quoted_phrases,
    render_answer,
    split_claims,
    strip_markers,
    verify_answer,
)
from rag.index import Bm25Analyzer
from rag.pipeline import Pipeline
from rag.prompts import DECLINE

CHATGPT = "Puis, en novembre 2022, ChatGPT est sorti, et le monde entier est devenu fou des chatbots IA."
WANG_28 = "L’été dernier, Alexandr Wang, 28 ans, co-créateur du ChatGPT"
SCALE = "Zuckerberg a injecté 14 milliards de dollars dans Scale AI"
LECUN_FT = "Dans une nouvelle interview au Financial Times, Yann LeCun"


# ---------------------------------------------------------------- passages made from the real documents


def sentence_at(doc, prefix: str) -> tuple[int, int]:
    """(start, end) of the document sentence that begins with `prefix`."""
    start = doc.text.index(prefix)
    for s, e in sentence_spans(doc.text):
        if s <= start < e:
            assert s == start, f"{prefix!r} does not start a sentence"
            return s, e
    raise AssertionError(prefix)


@pytest.fixture(scope="module")
def docs(docs_index):
    _, index = docs_index
    return index.documents[DEVELOPPEZ], index.documents[FUTURISM]


@pytest.fixture(scope="module")
def passages(docs) -> list[Passage]:
    """[1] developpez: Wang is 28 (plus a far sentence, so the passage text has a '…');
    [2] futurism: ChatGPT in November 2022, Meta's 14 billion in Scale AI, LeCun's FT interview."""
    dev, fut = docs
    wang = sentence_at(dev, WANG_28)
    first = sentence_spans(dev.text)[3]
    p1 = Passage(1, dev, f"{DEVELOPPEZ}#a", 0.03, sorted([first, wang]))
    p2 = Passage(2, fut, f"{FUTURISM}#b", 0.02, sorted([sentence_at(fut, CHATGPT), sentence_at(fut, SCALE), sentence_at(fut, LECUN_FT)]))
    assert "…" in p1.text and "28 ans" in p1.text and CHATGPT in p2.text
    return [p1, p2]


@pytest.fixture(scope="module")
def checker(embedder, docs_index) -> SupportChecker:
    settings, index = docs_index
    return SupportChecker(embedder, Bm25Analyzer(index.build_info.bm25_language), settings.support_threshold)


@pytest.fixture(scope="module")
def lexical_checker(docs_index) -> SupportChecker:
    """The same checker without the embedder: lexical overlap only."""
    settings, index = docs_index
    return SupportChecker(None, Bm25Analyzer(index.build_info.bm25_language), settings.support_threshold)


def assert_verbatim(citations: list[Citation], passages: list[Passage]) -> None:
    """Every quote is the document text at its offsets, made of whole sentences of its passage's spans."""
    by_n = {p.n: p for p in passages}
    for c in citations:
        passage = by_n[c.n]
        assert c.passage is passage
        text = passage.doc.text
        assert 0 <= c.start < c.end <= len(text)
        assert c.quote == text[c.start : c.end] and c.quote.strip() == c.quote and c.quote
        d = c.to_dict()
        assert text[d["start"] : d["end"]] == d["quote"]
        assert d["doc_id"] == passage.doc.doc_id and d["chunk_id"] == passage.chunk_id and d["n"] == c.n
        sentences = [se for s, e in passage.spans for se in sentence_spans(text, s, e)]
        assert c.start in {s for s, _ in sentences}, "a quote starts at a sentence of the passage"
        assert c.end in {e for _, e in sentences}, "a quote ends at a sentence of the passage"


# ---------------------------------------------------------------- markers


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("Wang a 28 ans [1].", [1]),
        ("Wang a 28 ans [1, 2].", [1, 2]),
        ("Wang a 28 ans [1][2].", [1, 2]),
        ("Wang a 28 ans [2] [1].", [2, 1]),
        ("Wang [1] a 28 ans [1; 3] et [3,4].", [1, 3, 4]),
        ("Wang a 28 ans.", []),
        ("Wang a [x] 28 ans [].", []),
        ("[12] [0]", [12, 0]),
    ],
)
def test_parse_markers(text, numbers):
    assert parse_markers(text) == numbers


def test_strip_markers_leaves_clean_text():
    assert strip_markers("Wang a 28 ans [1].") == "Wang a 28 ans."
    assert strip_markers("Wang a 28 ans [1, 2][3] .") == "Wang a 28 ans."
    assert strip_markers("  ChatGPT [2] est sorti en 2022 [1]. ") == "ChatGPT est sorti en 2022."
    assert strip_markers("Rien à retirer, vraiment !") == "Rien à retirer, vraiment !"
    assert strip_markers("Selon LeCun : « Alex n’est pas non plus en train de me dire quoi faire » [2] !") == (
        "Selon LeCun : « Alex n’est pas non plus en train de me dire quoi faire » !"
    )


def test_split_claims_keeps_trailing_markers_and_folds_meta_sentences():
    assert split_claims("Wang a 28 ans [1]. ChatGPT est sorti en 2022 [2].") == [
        "Wang a 28 ans [1].",
        "ChatGPT est sorti en 2022 [2].",
    ]
    # A marker written after the period belongs to the sentence before it.
    assert split_claims("Wang a 28 ans. [1] ChatGPT est sorti en 2022. [2]") == ["Wang a 28 ans. [1]", "ChatGPT est sorti en 2022. [2]"]
    claims = split_claims("ChatGPT was released in November 2022. This is supported by passage [2].")
    assert len(claims) == 1 and parse_markers(claims[0]) == [2]


@pytest.mark.parametrize(
    "sentence",
    ["This is supported by passage [2].", "This is stated in passages [1] and [2].", "Cela est mentionné dans le passage [1].", "Voir le passage [3].", "See passage 2."],
)
def test_meta_sentences_are_recognised(sentence):
    assert is_meta(sentence)


@pytest.mark.parametrize(
    "sentence",
    ["ChatGPT est sorti en 2022 [1].", "According to the documents, ChatGPT was released in 2022.", "Le passage du temps inquiète LeCun [1]."],
)
def test_claims_are_not_meta(sentence):
    assert not is_meta(sentence)


# ---------------------------------------------------------------- support checking and re-pointing


def test_claim_cited_to_the_wrong_passage_is_repointed(passages, checker):
    claims, citations, notes = verify_answer("ChatGPT est sorti en novembre 2022 [1].", passages, checker)
    assert claims[0].supported and claims[0].cited == [2]
    assert [c.n for c in citations] == [2] and citations[0].supported
    assert citations[0].quote == CHATGPT
    assert render_answer(claims) == "ChatGPT est sorti en novembre 2022 [2]."
    assert notes == []
    assert_verbatim(citations, passages)


def test_claim_cited_to_two_passages_keeps_the_supporting_one(passages, checker):
    claims, citations, _ = verify_answer("Alexandr Wang a 28 ans [1, 2].", passages, checker)
    assert claims[0].cited == [1] and claims[0].supported
    assert [c.n for c in citations] == [1] and "28 ans" in citations[0].quote
    assert_verbatim(citations, passages)


def test_english_claim_is_supported_by_the_french_source(passages, checker, lexical_checker):
    claim = "ChatGPT was released in November 2022."
    claims, citations, _ = verify_answer(claim + " [2]", passages, checker)
    assert claims[0].supported and claims[0].score >= checker.threshold
    assert [c.n for c in citations] == [2] and citations[0].quote == CHATGPT and citations[0].supported
    # The embedder alone bridges the languages: its rescaled cosine reaches the threshold by itself.
    source = passages[1].doc.text[slice(*sentence_at(passages[1].doc, CHATGPT))]
    assert checker.semantic([claim], [source])[0, 0] >= checker.threshold
    assert lexical_checker.semantic([claim], [source])[0, 0] == 0.0
    # A paraphrase that shares few words with the source is supported through the embedder only.
    paraphrase = "OpenAI launched ChatGPT in late 2022 [2]."
    assert verify_answer(paraphrase, passages, checker)[0][0].supported
    assert not verify_answer(paraphrase, passages, lexical_checker)[0][0].supported


def test_invented_claim_is_unsupported(passages, checker):
    claims, citations, _ = verify_answer("Yann LeCun was born in 1960 in Paris [2].", passages, checker)
    assert not claims[0].supported and claims[0].score < checker.threshold
    assert all(not c.supported for c in citations)
    assert_verbatim(citations, passages)


def test_number_absent_from_the_source_caps_support(passages, checker):
    wrong = "Alexandr Wang a 35 ans."
    right = "Alexandr Wang a 28 ans."
    source = passages[0].doc.text[slice(*sentence_at(passages[0].doc, WANG_28))]
    scores = checker.score_matrix([wrong, right], [source])
    assert scores[0, 0] <= checker.threshold * 0.8 < checker.threshold <= scores[1, 0]
    assert not verify_answer(wrong + " [1]", passages, checker)[0][0].supported
    assert verify_answer(right + " [1]", passages, checker)[0][0].supported
    # Same with a year: the right month and subject, the wrong year.
    assert not verify_answer("ChatGPT est sorti en novembre 2023 [2].", passages, checker)[0][0].supported


@pytest.mark.parametrize(
    ("claim", "source", "ok"),
    [
        ("Meta put 14 billion dollars into Scale AI.", "Zuckerberg a injecté 14 milliards de dollars dans Scale AI.", True),
        ("AMI Labs has 3 million employees.", "AMI Labs vise une valorisation de 3 milliards de dollars.", False),
        ("Llama 4 was published in April 2023.", "Le dernier modèle Llama 4, publié en avril dernier, a été mort-né.", False),
        ("Wang a 28 ans.", "Alexandr Wang, 28 ans, a été nommé responsable de l’IA.", True),
        ("Meta a pris 49,5 % de Scale AI.", "Meta a pris 49 % de Scale AI.", False),
    ],
)
def test_every_number_of_a_claim_must_be_in_the_source_with_its_scale(checker, claim, source, ok):
    assert checker.facts_match(claim, source, source) is ok


def test_a_name_the_passage_never_mentions_is_not_supported(checker):
    source = "Yann André Le Cun, généralement orthographié LeCun, est un informaticien franco-américain."
    assert not checker.facts_match("Yann LeCun est né à Paris.", source, source)
    assert checker.facts_match("LeCun est un informaticien franco-américain.", source, source)
    assert checker.facts_match("Selon le texte, LeCun est informaticien.", source, source)  # any word opens a sentence
    # Across languages names are translated ("French", "Turing Award", "November"); a lone proper name that
    # nothing in the passage resembles is still caught.
    assert checker.facts_match("LeCun is a French-American computer scientist.", source, source)
    assert not checker.facts_match("LeCun was born in Paris.", source, source)
    assert not checker.facts_match("LeCun graduated from the University of Paris.", source, source)
    turing = "En 2018, LeCun a reçu le prix Turing. ChatGPT est sorti en novembre 2022."
    assert checker.facts_match("In 2018, LeCun received the Turing Award.", turing, turing)
    assert checker.facts_match("ChatGPT was released in November 2022.", turing, turing)
    assert not checker.facts_match("In 2018, LeCun joined Google.", turing, turing)
    marcus = "Des critiques comme Gary Marcus soulignent un revirement de LeCun sur les LLM. Wang est l’ancien PDG de Scale AI."
    assert checker.facts_match("Gary Marcus pointed out LeCun's reversal on LLMs.", marcus, marcus)  # plural
    assert checker.facts_match("Wang is the former CEO of Scale AI.", marcus, marcus)  # acronym
    # A name from the passage's title or publisher counts: the model reads them in the passage header.
    assert checker.facts_match("Le site Futurism dit que LeCun est informaticien.", source, source + " Futurism")
    assert not checker.facts_match("Le site Futurism dit que LeCun est informaticien.", source, source)
    # A name must be a whole word of the passage: "Cun" is not "LeCun".
    startup = "LeCun a lancé une startup appelée Advanced Machine Intelligence Labs."
    assert not checker.facts_match("The Cun company is funding Advanced Machine Intelligence Labs.", startup, startup)
    assert checker.facts_match("LeCun launched Advanced Machine Intelligence Labs.", startup, startup)


def test_invented_birthplace_is_withheld_through_the_pipeline(pipeline):
    prepared = pipeline.prepare("Dans quelle ville Yann LeCun est-il né ?")
    lecun = next(p for p in prepared.passages if "LeCun" in p.text)
    answer = pipeline.finish(prepared, f"Yann LeCun est né à Paris [{lecun.n}].")
    assert answer.abstained and not answer.citations


def test_meta_sentence_is_folded_into_the_previous_claim(passages, checker):
    claims, citations, _ = verify_answer("ChatGPT est sorti en novembre 2022. This is supported by passage [2].", passages, checker)
    assert len(claims) == 1 and claims[0].supported and claims[0].cited == [2]
    assert render_answer(claims) == "ChatGPT est sorti en novembre 2022 [2]."
    assert [c.n for c in citations] == [2]


def test_out_of_range_numbers_are_dropped_with_a_note(passages, checker):
    claims, citations, notes = verify_answer("ChatGPT est sorti en novembre 2022 [7]. Wang a 28 ans [1][0].", passages, checker)
    assert len(notes) == 1 and "[0]" in notes[0] and "[7]" in notes[0] and "[1]" not in notes[0]
    rendered = render_answer(claims)
    assert set(parse_markers(rendered)) == {1, 2} == {c.n for c in citations}
    assert "[7]" not in rendered and "[0]" not in rendered


def test_uncited_supported_claim_gets_a_citation(passages, checker):
    claims, citations, _ = verify_answer("Meta a injecté 14 milliards de dollars dans Scale AI.", passages, checker)
    assert claims[0].supported and claims[0].cited == [2]
    assert "14 milliards" in citations[0].quote


def test_claims_from_two_passages_give_two_citations(passages, checker):
    claims, citations, _ = verify_answer(
        "Alexandr Wang a 28 ans [1]. Zuckerberg a injecté 14 milliards de dollars dans Scale AI [2].", passages, checker
    )
    assert [c.supported for c in claims] == [True, True]
    assert [(c.n, c.supported) for c in citations] == [(1, True), (2, True)]
    assert "28 ans" in citations[0].quote and "14 milliards" in citations[1].quote
    assert_verbatim(citations, passages)


def test_answer_without_content_has_no_citation(passages, checker):
    for text in ("", "[1]", "…", "[1] [2]."):
        claims, citations, _ = verify_answer(text, passages, checker)
        assert citations == [] and parse_markers(render_answer(claims)) == []


# ---------------------------------------------------------------- property: quotes are always verbatim


SUPPORTED = [
    "Alexandr Wang a 28 ans",
    "ChatGPT est sorti en novembre 2022",
    "ChatGPT was released in November 2022",
    "Zuckerberg a injecté 14 milliards de dollars dans Scale AI",
    "Meta invested 14 billion dollars in Scale AI",
    "Yann LeCun a donné une interview au Financial Times",
]
OTHER = [
    "Yann LeCun was born in 1960 in Paris",
    "Le ciel est bleu",
    "ChatGPT est sorti en 2023",
    "Wang (28 ans) dirige, selon « certains », l’IA",
    "M. Zuckerberg a dit : « non »",
    "14 %",
    "???",
    "",
    "L’IA… vraiment",
    "e.g. 3.5 milliards",
]
MARKS = ["", " [1]", " [2]", " [1, 2]", " [1][2]", " [2] [1]", " [3]", " [0]", " [12]", " [2; 1]", "[1 ,2]", " [1, 9]"]
ENDS = [".", "!", "?", "", "…", " .", ".\n"]
META = ["This is supported by passage [2].", "Voir le passage [1].", "Cela est mentionné dans les passages [1] et [2]."]
JOINERS = [" ", "\n", "  ", "\n\n", ""]


def random_answer(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(0, 4)):
        if rng.random() < 0.15:
            parts.append(rng.choice(META))
            continue
        text = rng.choice(SUPPORTED if rng.random() < 0.6 else OTHER)
        mark, end = rng.choice(MARKS), rng.choice(ENDS)
        parts.append(text + (mark + end if rng.random() < 0.7 else end + mark))
    return "".join(p + rng.choice(JOINERS) for p in parts)


def check_properties(answer: str, passages: list[Passage], checker: SupportChecker) -> None:
    claims, citations, notes = verify_answer(answer, passages, checker)
    assert_verbatim(citations, passages)
    numbers = [c.n for c in citations]
    assert numbers == sorted(set(numbers)) and set(numbers) <= {1, 2}
    rendered = render_answer(claims)
    assert set(parse_markers(rendered)) == set(numbers), (answer, rendered)
    assert all(c.supported == any(cl.supported and c.n in cl.cited for cl in claims) for c in citations)
    invalid = sorted(set(parse_markers(answer)) - {1, 2})
    if invalid:
        assert len(notes) == 1 and set(map(int, re.findall(r"\[(\d+)\]", notes[0]))) == set(invalid), (answer, notes)
    else:
        assert notes == []
    assert all(claim.supported == (claim.score >= checker.threshold) for claim in claims if claim.supported)


def test_quotes_are_verbatim_for_many_answers_lexical(passages, lexical_checker):
    rng = random.Random(20240611)
    for _ in range(400):
        check_properties(random_answer(rng), passages, lexical_checker)


def test_quotes_are_verbatim_for_many_answers_with_the_embedder(passages, checker):
    rng = random.Random(7)
    for _ in range(15):
        check_properties(random_answer(rng), passages, checker)


def test_quotes_are_verbatim_through_the_pipeline(pipeline):
    """finish() on canned answers to a real prepared question: citations match the answer's markers."""
    prepared = pipeline.prepare("Quel âge a Alexandr Wang ?")
    rng = random.Random(3)
    for _ in range(20):
        answer = pipeline.finish(prepared, random_answer(rng))
        in_text = set(parse_markers(answer.answer))
        assert in_text == {c.n for c in answer.citations}
        assert in_text <= {p.n for p in prepared.passages}
        assert_verbatim(answer.citations, prepared.passages)
        if answer.abstained:
            assert answer.citations == [] and answer.answer == DECLINE["fr"]


# ---------------------------------------------------------------- abstention


@pytest.mark.parametrize(
    "text",
    [
        "Je ne trouve pas la réponse dans les documents.",
        "Je ne trouve pas de réponse dans les documents.",
        "Les documents ne mentionnent pas son âge.",
        "Le passage ne précise pas la date.",
        "Il n’y a aucune information sur ce sujet.",
        "I cannot find the answer in the documents.",
        "I can’t find the answer in the passages.",
        "The passages do not mention his age.",
        "There is no information about the share price.",
        "This is not mentioned in the documents.",
    ],
)
def test_decline_phrases(text):
    assert is_decline(text)


@pytest.mark.parametrize(
    "text",
    ["Meta a investi 14 milliards de dollars dans Scale AI [1].", "ChatGPT was released in November 2022 [1].", "Alexandr Wang a 28 ans."],
)
def test_answers_are_not_declines(text):
    assert not is_decline(text)


@pytest.fixture(scope="module")
def chatgpt_prepared(pipeline):
    prepared = pipeline.prepare("Quand ChatGPT est-il sorti ?")
    assert prepared.lang == "fr" and any("novembre 2022" in p.text for p in prepared.passages)
    return prepared


def with_strict(pipeline, strict: bool) -> Pipeline:
    return Pipeline(pipeline.settings.resolved(strict=strict), pipeline.retriever, pipeline.generator)


INVENTED = "Yann LeCun est né en 1960 à Paris [1]."


def test_strict_mode_withholds_an_unsupported_answer(pipeline, chatgpt_prepared):
    answer = with_strict(pipeline, True).finish(chatgpt_prepared, INVENTED)
    assert answer.abstained
    assert answer.answer == DECLINE["fr"] and "1960" not in answer.answer
    assert answer.citations == []
    assert any(note.startswith("withheld") for note in answer.notes)
    assert answer.raw_answer == INVENTED  # kept for debugging, never shown as the answer


def test_non_strict_mode_shows_an_unsupported_answer_flagged(pipeline, chatgpt_prepared):
    answer = with_strict(pipeline, False).finish(chatgpt_prepared, INVENTED)
    assert not answer.abstained
    assert "1960" in answer.answer
    assert any(note.startswith("unsupported") for note in answer.notes)
    assert not any(note.startswith("withheld") for note in answer.notes)
    assert all(not c.supported for c in answer.citations)
    assert_verbatim(answer.citations, chatgpt_prepared.passages)


def test_supported_answer_is_kept_with_a_note_on_the_unsupported_sentence(pipeline, chatgpt_prepared):
    raw = "ChatGPT est sorti en novembre 2022 [1]. Yann LeCun est né en 1960 à Paris [1]."
    answer = with_strict(pipeline, True).finish(chatgpt_prepared, raw)
    assert not answer.abstained and "novembre 2022" in answer.answer
    assert any(c.supported and "novembre 2022" in c.quote for c in answer.citations)
    assert any(note.startswith("unsupported") and "1960" in note for note in answer.notes)


@pytest.mark.parametrize("raw", ["Je ne trouve pas la réponse dans les documents.", "", "Les passages ne mentionnent pas cette date."])
def test_decline_abstains_without_citations(pipeline, chatgpt_prepared, raw):
    for strict in (True, False):
        answer = with_strict(pipeline, strict).finish(chatgpt_prepared, raw)
        assert answer.abstained and answer.citations == []
        assert not any(note.startswith(("withheld", "unsupported")) for note in answer.notes)
        assert is_decline(answer.answer)


def test_marker_inside_a_sentence_leaves_no_double_space(passages, checker):
    claims, _, _ = verify_answer("ChatGPT [2] est sorti en novembre 2022.", passages, checker)
    rendered = render_answer(claims)
    assert rendered == "ChatGPT est sorti en novembre 2022 [2]."
    assert not MARKER.search(strip_markers(rendered))


# ---------------------------------------------------------------- the quotes hold the whole claim

ROLE = "LeCun en sera le président exécutif"
AMI = "LeCun a lancé une nouvelle startup axée sur les world-models"
FLOP = "Le succès n’a pas duré, toutefois; le dernier modèle Llama 4"
BLAME = "LeCun impute l’échec à la pression de Zuckerberg"
TOP = "Yann LeCun, l’un des meilleurs chercheurs en IA de Meta"
BIO = "Yann André Le Cun, généralement orthographié LeCun"


def quotes_for(answer: str, passages: list[Passage], checker) -> str:
    claims, citations, _ = verify_answer(answer, passages, checker)
    assert all(c.supported for c in claims), [(c.text, c.score) for c in claims]
    assert_verbatim(citations, passages)
    return " ".join(c.quote for c in citations)


def test_the_passage_holding_more_of_the_claim_is_cited_whatever_number_the_model_wrote(docs, checker):
    dev, _ = docs
    passages = [
        Passage(1, dev, f"{DEVELOPPEZ}#top", 0.03, [sentence_at(dev, TOP)]),
        Passage(2, dev, f"{DEVELOPPEZ}#bio", 0.02, [sentence_at(dev, BIO)]),
    ]
    assert "franco-américain" in quotes_for("Yann LeCun est franco-américain [1].", passages, checker)


def test_a_claim_drawn_from_two_sentences_quotes_both(docs, checker):
    _, fut = docs
    passages = [
        Passage(1, fut, f"{FUTURISM}#ami", 0.03, [sentence_at(fut, AMI)]),
        Passage(2, fut, f"{FUTURISM}#role", 0.02, [sentence_at(fut, ROLE)]),
    ]
    quotes = quotes_for("LeCun occupera le rôle de président exécutif de Advanced Machine Intelligence Labs [1].", passages, checker)
    assert "président exécutif" in quotes and "Advanced Machine Intelligence Labs" in quotes
    llama = [Passage(1, fut, f"{FUTURISM}#llama", 0.03, sorted([sentence_at(fut, FLOP), sentence_at(fut, BLAME)]))]
    quotes = quotes_for("LeCun impute l'échec de Llama 4 à la pression de Zuckerberg sur l'unité de LeCun [1].", llama, checker)
    assert "impute l’échec à la pression" in quotes


def test_cross_language_claims_keep_the_model_s_passage(passages, checker):
    """Across languages shared words are only names: they do not re-point a citation."""
    quotes = quotes_for("Meta put 14 billion dollars into Scale AI [2].", passages, checker)
    assert "14 milliards" in quotes


TALENT = "Au lieu de cela, Zuckerberg a lancé l’an dernier"
PILLED = "Tous les talents qui sont venus, selon LeCun"


@pytest.mark.parametrize(
    ("text", "phrases"),
    [
        ('He called them "completely LLM-pilled" [1].', ["completely LLM-pilled"]),
        ("Il parle d'une « impasse » et de « world models » [2].", ["impasse", "world models"]),
        ("Rien entre guillemets.", []),
    ],
)
def test_quoted_phrases(text, phrases):
    assert quoted_phrases(text) == phrases


def test_the_sentence_holding_a_quoted_phrase_is_quoted(docs, checker):
    # The claim's other words match the "attirer les talents" sentence best; the quoted words are in the next one.
    _, fut = docs
    talent = [Passage(1, fut, f"{FUTURISM}#talent", 0.03, sorted([sentence_at(fut, TALENT), sentence_at(fut, PILLED)]))]
    answer = "LeCun described the talent that Zuckerberg's new lab attracted as \"completely LLM-pilled\" [1]."
    quotes = quotes_for(answer, talent, checker)
    assert "LLM-pilled" in quotes and "attirer les talents" in quotes
    # Without quotation marks the claim promises no words: the best-matching sentence alone is quoted.
    assert "LLM-pilled" not in quotes_for(answer.replace('"', ""), talent, checker)
