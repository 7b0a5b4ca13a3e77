"""Does the cited source state what a claim adds to the question? The check behind every "supported".

For each claim, in this order:
0. A sentence stopping where its answer should be ("The option that encrypts it is [1].") states nothing.
1. Facts (rag.facts): the claim's numbers with their scale, months, code and paths, quoted strings and the languages
   it names ("German") must be in the cited units (or the headings above them); its names in the passage the model
   read (across languages, the question's multiword name may be read translated but for its proper part: « prix
   Turing »), and across languages, when it relates the question's name to another, both where its line is read; an
   ordinal must be the source's when the source gives one. A number taken from a table row must stand in the column
   the claim speaks of: the one its words name, else the one whose name e5 finds closest to it (rag.tables).
   Otherwise: unsupported.
2. Same language: the words the claim adds to the question (stemmed, stop words aside) must be in the cited
   units, but for one per `paraphrase_words` (a synonym), with the same polarity (a negation on one side only is
   a different statement); a claim naming two things or more must also hold the words that relate them. What it
   adds may not stand in the headings alone, and a claim that only names a value (dpkg-deb, `-r`, "none", 23) asserts
   the question of it: less than a third of the question's words, weighed by how seldom the corpus uses them, may
   be missing from its line.
3. Across languages the same words cannot be asked for, only their counterparts: at least half the words the
   claim adds (all its words when it adds none) must each meet a word of the source whose contextual e5 vector is
   alike (`words_align`), and a claim only naming a value needs counterparts for the question's words it repeats,
   but a third, where the value is read. Then a judge decides (`Settings.support_judge`): e5 similarity of the
   sentences (the default), or the loaded model asked whether the source line states the sentence, read from
   llama.cpp's cache. Measured on the dev questions, neither judge alone tells an invented claim from a faithful one
   (MEASUREMENTS.md), so a judge never overrules a missing fact, missing words, or words without counterparts.
A line that announces the next one ("To list them, run:") states nothing alone, only with the line it announces.
When the cited units fail, the other numbered units are tried, best first: the model's number may be off by one
(a unit of another language only when the claim cites one, or none: words tell within the language it cites);
then two lines of one section, one of them a list item, table row, definition or code line. A sentence citing more
lines than `max_cited` rests on the cited lines holding its items (commands, numbers, quoted strings), else on none.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np

from rag import facts as F
from rag import languages
from rag.embeddings import Embedder
from rag.history import last_said
from rag.judges import Judge
from rag.prompts import source_name
from rag.tables import columns, names_its_value, record
from rag.text import APOSTROPHES, CLAUSE, WORD, analyzer, fold, holds_phrase, interrogative_terms, opens_list
from rag.types import STRUCTURED_KINDS, Claim, Source

SEMANTIC_FLOOR, SEMANTIC_CEILING = 0.78, 0.92  # e5 cosines read as "unrelated" and "paraphrase"
FEWEST_ASKED = 2  # words of its own a question needs to tell what it is about
# A value named without backquotes: a hyphenated identifier or a manual page (dpkg-deb, apt-get, deb(5)). Not code
# (rag.facts), which must stand verbatim: a hyphenated word of prose may be translated.
NAMED_VALUE = re.compile(r"(?<![\w-])[^\W\d_][\w+]*(?:-[\w+]+)+(?:\(\d\w*\))?|(?<![\w-])[^\W\d_][\w+-]*\(\d\w*\)")
JUDGED_YES = "judge:yes"  # a claim the words could not settle, passed by the judge
DOUBTED = "doubt"  # the judge's yes, overruled because the model itself nearly declined (Pipeline)


@dataclass
class Evidence:
    """What a claim is checked against: the units it cites, the headings above them, and the passage around them."""

    sources: list[Source]
    read: str = ""  # everything the model read: where a fact the question gave may stand

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sources)

    @property
    def context(self) -> str:
        """The passage's header: the source's name and the headings above the units, read by the model beside
        them, so their words count ("According to Futurism, ...")."""
        doc = self.sources[0].passage.doc
        return " ".join([source_name(doc.metadata, doc.title), self.headings])

    @property
    def headings(self) -> str:
        """The headings above the units (the header without the source's name)."""
        doc = self.sources[0].passage.doc
        spans = dict.fromkeys(span for s in self.sources for span in s.unit.context)
        return " ".join(doc.text[a:b] for a, b in spans)

    @property
    def lead_in(self) -> str:
        """The line right before each unit in its document, when the model read it too: "-l:" above "Displays the
        current crontab" names what the sentence speaks of."""
        lines = []
        for source in self.sources:
            doc, unit = source.passage.doc, source.unit
            before = [u for u in source.passage.units if u.end <= unit.start and not doc.text[u.end : unit.start].strip()]
            lines.extend(doc.text[u.start : u.end] for u in before)
        return " ".join(lines)

    @property
    def near(self) -> str:
        """The units, the headings above them and the line before them: where what a line speaks of is named."""
        return " ".join([self.text, self.context, self.lead_in])

    @property
    def surroundings(self) -> str:
        """Where a claim's names may come from: the passages of the units, their headings and their document's title."""
        passages = {id(s.passage): s.passage for s in self.sources}
        parts = [p.text for p in passages.values()]
        doc = self.sources[0].passage.doc
        return " ".join([*parts, self.context, doc.title, str(doc.metadata.get("publisher") or "")])

    @property
    def lang(self) -> str:
        return self.sources[0].unit.lang


def _record_terms(lang: str, evidence: Evidence) -> frozenset[str]:
    """The language's words for a record's parts ("field", "value") when a line of the evidence names its value."""
    if not any(names_its_value(s.text, s.passage.term_of(s.unit)) for s in evidence.sources):
        return frozenset()
    return record_terms(lang)


@lru_cache(maxsize=64)
def record_terms(lang: str) -> frozenset[str]:
    """The analysed forms of the language's words for a record's parts."""
    return frozenset(analyzer(lang).terms(" ".join(languages.get(lang).record)))


@lru_cache(maxsize=64)
def kind_terms(lang: str) -> frozenset[str]:
    """The analysed forms of the language's words for the kind of value a question asks for ("range", "year")."""
    return frozenset(analyzer(lang).terms(" ".join(languages.get(lang).kinds)))


@lru_cache(maxsize=64)
def filler_terms(lang: str) -> frozenset[str]:
    """The analysed forms of the language's common words and of its yes and no."""
    language = languages.get(lang)
    return frozenset(analyzer(lang).terms(" ".join(language.filler | language.answers)))


def _negation_at(tokens: list[str], negations: frozenset[str]) -> int:
    """Index of the first negation among the tokens ("n'" of "n'est" counts), -1 when none."""
    for i, token in enumerate(tokens):
        if token in negations or any(part in negations for part in token.split("'")):
            return i
    return -1


def _tokens(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower().translate(APOSTROPHES))


def has_negation(text: str, lang: str) -> bool:
    """The text holds one of its language's negations ("not", "doesn't", "n'" of "n'est", "kein")."""
    return _negation_at(_tokens(text), languages.get(lang).negations) >= 0


def unfinished(text: str, lang: str) -> bool:
    """The sentence stops on a word no statement ends on ("The line that encrypts it is [1]." with its marker taken
    out): the model put the citation where the answer should be. "Yes, it is." answers, and "package A" names."""
    language = languages.get(lang)
    last = re.search(r"(\w+)[\s.!?…;:,]*$", text)
    first = _tokens(text)[:1]
    return bool(last) and last.group(1) in language.unfinished and not (first and first[0] in language.answers)


def condition_after_negation(text: str, lang: str) -> str:
    """What follows a condition word after the text's negation ("they install these packages" of "not available
    until they install these packages"), '' when there is none: such a negation states a requirement."""
    language = languages.get(lang)
    tokens = _tokens(text)
    at = _negation_at(tokens, language.negations)
    if at < 0:
        return ""
    for i in range(at + 1, len(tokens)):
        if tokens[i] in language.conditions:
            return " ".join(tokens[i + 1 :])
    return ""


class SupportChecker:
    """Checks claims against the numbered units the model read; the embedder and judge are already loaded."""

    def __init__(
        self,
        embedder: Embedder | None,
        paraphrase_words: int = 7,
        max_cited: int = 3,
        align_similarity: float = 0.80,
        align_share: float = 0.5,
        column_margin: float = 0.01,
        near_words: int = 2,
        near_similarity: float = 0.945,
        term_weight: Callable[[str], float] | None = None,
        question_share: float = 0.85,
    ) -> None:
        self.embedder = embedder
        # What a word of the question tells of its subject: one the corpus seldom uses ("encrypts") more than one on
        # every page ("package"). Every word alike without a corpus.
        self.term_weight = term_weight or (lambda term: 1.0)
        self.near_words = near_words
        self.near_similarity = near_similarity
        self.paraphrase_words = paraphrase_words
        self.max_cited = max_cited
        self.align_similarity = align_similarity
        self.align_share = align_share
        self.column_margin = column_margin
        self.question_share = question_share
        self._words: dict[str, list[tuple[str, np.ndarray]]] = {}  # word vectors of recent claims and lines
        self.pair_candidates = 8  # lines tried two by two when no single line states a claim: at most 28 pairs

    # ---------------------------------------------------------------- the three tests

    def facts_hold(self, claim: Claim, lang: str, evidence: Evidence, question: str = "") -> str:
        """'' when every fact the claim adds to the question is in the evidence, else what is missing.

        A fact copied from the question (a name, a file, a number it asks about) need only be somewhere in what
        the model read: the claim does not assert it, the question did; but an option (-i) must be in the cited
        line, the headings above it or the line before it: it says which thing the line speaks of.
        """
        mine = F.facts(claim.text, lang)
        if mine.empty:
            return ""
        asked = F.facts(question, lang)
        around = fold(evidence.surroundings)
        read = evidence.read or evidence.surroundings
        text = evidence.text + " " + evidence.context
        # A number or a version in the source's name ("Python 3.11.2 documentation") names the source, not what
        # its lines state: the claim adding it must find it in the line or the headings above it (the name itself,
        # "selon developpez.com", the claim may give).
        own = evidence.text + " " + evidence.headings
        stated = F.facts(own, evidence.lang)
        everywhere = _facts_of(read, evidence.lang)
        allowed = stated.numbers | (asked.numbers & everywhere.numbers)
        missing = mine.numbers - allowed
        if missing and lang != evidence.lang:
            # The claim may keep its source's scale words ("3 milliards" in an English sentence); read in the
            # source's language it must still give as many numbers ("twelve" is none in French).
            kept = {q.value for q in F.quantities(claim.text, evidence.lang)}
            if len(kept) >= len(mine.numbers) and kept <= allowed:
                missing = set()
        if missing:
            return f"number:{sorted(missing)[0]:g}"
        if not mine.months <= stated.months | (asked.months & everywhere.months):
            return "month"
        unstated = mine.languages - (stated.languages | (asked.languages & everywhere.languages))
        if unstated:
            return f"language:{sorted(unstated)[0]}"  # "the German translation" of a line about the Italian one
        if mine.ordinals and stated.ordinals and not mine.ordinals <= stated.ordinals | asked.ordinals:
            return "ordinal"  # "the second field" for a line about the first; a lone "First, ..." is not asked
        for date in mine.dates:
            if not (F.date_stated(date, stated.dates) or (date in asked.dates and F.date_stated(date, everywhere.dates))):
                return "date"
        column = self.wrong_column(claim, lang, asked, evidence)
        if column:
            return column
        for token in sorted(mine.code):  # sorted: the same reason reported in every process
            if F.contains_code(token, own if any(ch.isdigit() for ch in token) else text):
                continue
            # An option is what its line speaks of, and lines that differ only in theirs are alike: copied from the
            # question, it must stand in the line before the cited one, not just anywhere the model read ("-i asks
            # for confirmation" is not stated by the line about -l).
            where = evidence.lead_in if token.startswith("-") else read
            if not (token in asked.code and F.contains_code(token, where)):
                return f"code:{token}"
        folded = " ".join(fold(text).split())
        across = lang != evidence.lang
        for quote in mine.quotes:
            if F.contains_quote(quote, folded) or (quote in asked.quotes and F.contains_quote(quote, _folded(read))):
                continue
            if not (across and _quote_translated(quote, lang, stated.quotes)):
                return f"quote:{quote}"
        words = set(WORD.findall(around))
        asked_names = {fold(n) for n in asked.names}
        copied = [n for n in sorted(mine.names) if fold(n) in asked_names]
        endings = languages.get(lang).name_endings
        phrases = _name_phrases(question, asked.names) if across and copied else {}
        unread = _mostly_absent(copied, _folded(read), endings, _translated(phrases, read, everywhere.names))
        if unread:  # the question's subject is not what the model read about
            return f"name:{unread}"
        for name in sorted(mine.names):
            if name not in copied and not _name_stands(name, around, words, across, endings):
                return f"name:{name}"
        if copied and len(copied) < len(mine.names) and across:
            return self._relation_near(mine.names, copied, evidence, endings, phrases)
        return ""

    @staticmethod
    def _relation_near(
        names: frozenset[str], copied: list[str], evidence: Evidence, endings: tuple[str, ...], phrases: dict[str, frozenset[str]]
    ) -> str:
        """Across languages, a claim relating the question's name to another ("AMI Labs is funded by Zuckerberg")
        states a relation whose words cannot be compared: its names must stand where the line is read (in it, the
        headings above it or the line before it, a pronoun's antecedent), not just somewhere in the passage.
        '' or what is missing."""
        written = evidence.near
        near = _folded(written)
        words = set(WORD.findall(near))
        translated = _translated(phrases, written, frozenset(F.names(written, evidence.lang)))
        missing = _mostly_absent(copied, near, endings, translated)
        missing = missing or next((n for n in sorted(names - set(copied)) if not _name_stands(n, near, words, True, endings)), "")
        return f"relation:{missing}" if missing else ""

    def wrong_column(self, claim: Claim, lang: str, asked: F.Facts, evidence: Evidence) -> str:
        """A number the claim takes from a table row stands in the column it speaks of: "released in 2027" is not
        stated by a row whose 2027 is its created date. The column spoken of is the one whose name the claim's words
        hold; when they hold none (another language, "came out"), the one whose name e5 finds closest to the claim,
        by `column_margin` over the column holding the number. '' or 'column:' and the column spoken of."""
        rows = [s for s in evidence.sources if s.unit.kind == "row"]
        if not rows:
            return ""
        kinds = {name: kind for s in rows for name, kind in columns(s.passage.doc, s.unit.start, s.unit.lang).items()}
        words = analyzer(lang)
        said = words.terms(claim.text)
        named = {name for name in kinds if (words.terms(name) - filler_terms(lang)) & said}
        values = [(name, F.numbers(value, evidence.lang)) for s in rows for name, value in record(s.text, s.passage.term_of(s.unit))]
        for number in sorted(F.numbers(claim.text, lang) - asked.numbers):
            holding = {name for name, held in values if number in held}
            if not holding or holding & named:
                continue
            alike = sorted(name for name in kinds if kinds[name] in {kinds.get(h, "") for h in holding})
            if named:
                spoken = [name for name in named if not kinds[name] or name in alike]
                if spoken:
                    return f"column:{sorted(spoken)[0]}"
            elif len(alike) >= 2:
                closest = self._closest_column(claim.text, alike, holding)
                if closest:
                    return f"column:{closest}"
        return ""

    def _closest_column(self, claim: str, names: list[str], holding: set[str]) -> str:
        """The column name e5 finds closer to the claim than any column holding its number, by `column_margin`;
        '' when none is (or without an embedder). Everything but the names is the same on both sides, so a small
        difference tells: measured in MEASUREMENTS.md."""
        if self.embedder is None:
            return ""
        vectors = self.embedder.embed_queries([claim, *names])
        sims = dict(zip(names, (vectors[1:] @ vectors[0]).tolist()))
        best = max(names, key=lambda n: sims[n])
        held = max(sims[h] for h in holding if h in sims)
        return best if best not in holding and sims[best] - held >= self.column_margin else ""

    def added_words(self, claim: Claim, lang: str, question: str) -> set[str]:
        """The claim's words that the question (and the conversation before it) does not already hold: what the
        claim answers. Common words ("the following", "use") are left out: a claim may add them."""
        return _added_terms(claim.text, question, lang)

    def missing_words(self, claim: Claim, lang: str, question: str, evidence: Evidence) -> tuple[set[str], int]:
        """Same language: the words the claim needs that the evidence lacks, and how many it needs. Needed are the
        words it adds to the question, or all its words when it names two things or more (their relation)."""
        words = analyzer(lang)
        stated = _digits_alike(words.terms(evidence.text + " " + evidence.context))
        # A month is a fact facts_hold has checked, against a month name or an ISO date's digits alike; "field" or
        # "value" is what a "name: value" line is, unsaid.
        unsaid = _month_terms(claim.text, lang) | _record_terms(lang, evidence)
        needed = self.added_words(claim, lang, question) - unsaid
        named, asked_names = set(F.names(claim.text, lang)), F.names(question, lang)
        if len(named) >= 2 and not named <= set(asked_names):
            # "Wang replaced LeCun" for "Who replaced LeCun?": the relation is the question's word, and the source
            # must state it too; not the words of a string the question quotes, which names what it asks about.
            quoted = set(F.facts(question, lang).quotes) & set(F.facts(claim.text, lang).quotes)
            needed = words.terms(claim.text) - filler_terms(lang) - words.terms(" ".join(quoted))
            # A name the question gives may stand in the line before, the line's "it" ("the failure" of Llama 4).
            before = _folded(evidence.lead_in)
            endings = languages.get(lang).name_endings
            stated = stated | words.terms(" ".join(n for n in asked_names if F.contains_word(n, before, endings)))
        elif not needed:
            # "Yes, cron installs a crontab whose last line has no newline" adds nothing but its yes: it asserts the
            # question itself, so the source must state every word of it, with no synonym ("refuses to install"
            # holds all the other words).
            needed = words.terms(claim.text) - filler_terms(lang) - unsaid
            return {w for w in needed - stated if not _derived(w, stated)}, 0
        line = _digits_alike(words.terms(evidence.text))
        if needed and not any(w in line or _derived(w, line) for w in needed & stated):
            # What it adds stands only in the headings above the line ("Extra" of "What is an Essential, ... or
            # Extra package?"): a heading may list the answers, but the claim's other words must be stated too, or
            # the heading's value is joined to what nothing says of it ("Extra is the priority of backports").
            needed = needed | (words.terms(claim.text) - filler_terms(lang) - unsaid)
        return {w for w in needed - stated if not _derived(w, stated)}, len(needed)

    def word_fit(self, claim: Claim, lang: str, question: str, evidence: Evidence) -> str:
        """Same language, how the claim's words stand in the evidence: "words" when the needed words are there but
        for one per `paraphrase_words` (a synonym), "near" when one per `near_words` is missing (a paraphrase, if e5
        says so), else ""; either way with what it repeats of the question in what the passage is about, and with
        the same polarity. A claim whose words the source lacks is not stated there."""
        if lang != evidence.lang:
            return ""
        missing, needed = self.missing_words(claim, lang, question, evidence)
        if len(missing) > max(needed // self.paraphrase_words, needed // self.near_words):
            return ""
        if not self.about_the_subject(claim, lang, question, evidence):
            return ""
        negated = has_negation(F.unquoted(claim.text), lang)
        # A claim's own negation may be the question's ("when the URL has none"), stated by any clause; a claim
        # without one must find none where the source states what it adds.
        if negated != self.negated_where(claim, lang, evidence, "" if negated else question):
            return ""
        return "words" if len(missing) <= needed // self.paraphrase_words else "near"

    def words_hold(self, claim: Claim, lang: str, question: str, evidence: Evidence) -> bool:
        """Same language: the claim's words are stated by the evidence (`word_fit` "words")."""
        return self.word_fit(claim, lang, question, evidence) == "words"

    def words_align(self, claim: Claim, lang: str, question: str, evidence: Evidence) -> bool:
        """Across languages: at least `align_share` of the words the claim adds to the question have a counterpart
        in the evidence, a word whose contextual e5 vector is at least `align_similarity` alike and no other word
        of the claim nearer to (`Counterparts`): "patron" has none in a line about a startup's valuation, however
        alike the two sentences are as a whole."""
        words = analyzer(lang)
        restates = _restates(claim.text, question, lang)
        names_answer = _only_names_an_answer(claim.text, question, lang)
        # A restatement asserts the question itself ("The option noauto encrypts it"): as within one language
        # (missing_words), every word of it needs a counterpart, in the line or the headings above it.
        wanted = words.terms(claim.text) - filler_terms(lang) if restates else self.added_words(claim, lang, question)
        read = self._word_vectors(_aligned_text(evidence, restates, names_answer))
        if not read:
            return True  # a line the embedding model cannot map back to its words (longer than it reads): the judge decides
        theirs_words, filler = analyzer(evidence.lang), filler_terms(evidence.lang)
        common = np.array([theirs_words.terms(w) <= filler for w, _ in read])
        if common.all():
            return False  # nothing but common words: no counterpart for anything
        claim_words = self._word_vectors(claim.text)
        if evidence.lang != lang:
            # Across languages a source word is the counterpart of the claim's word nearest to it, and a common
            # word may be one ("contained" of « contiene »), though not of another common word's.
            mine_common = np.array([words.terms(w) <= filler_terms(lang) for w, _ in claim_words])
            theirs = Counterparts.mutual([v for _, v in read], common, [v for _, v in claim_words], mine_common)
        else:
            # Within one language the stems have decided: counterparts only stand in for synonyms, and a claim
            # repeating its own words ("senden", "gesendet") would take their counterparts from each other.
            theirs = Counterparts([v for (_, v), c in zip(read, common) if not c])
        mine = [v for w, v in claim_words if words.terms(w) & wanted]
        if mine and float(np.mean(self._met(mine, theirs))) < (1.0 if restates else self.align_share):
            return False
        if not names_answer:
            return True
        # A claim only naming a value ("The option `-r` sends the table to a remote server") asserts the question
        # of it: at most a third of the question's words it repeats may lack a counterpart where the value is read
        # ("L'option -r supprime la crontab en cours"; counterparts are less sure than stems: a third, not less).
        subject = _asserted_of_value(claim.text, question, lang)
        repeated = [v for w, v in claim_words if words.terms(w) & subject]
        return not repeated or 3 * int(np.sum(~self._met(repeated, theirs))) <= len(repeated)

    def _weight(self, terms: set[str]) -> float:
        """What these words together tell of a subject (`term_weight`)."""
        return sum(self.term_weight(t) for t in terms)

    def _met(self, mine: list[np.ndarray], theirs: "Counterparts") -> np.ndarray:
        """For each of the claim's word vectors, whether the source holds a counterpart: a word at least
        `align_similarity` alike that no other word of the claim is nearer to (`Counterparts`)."""
        sims = np.stack(mine) @ theirs.vectors.T
        return ((sims >= self.align_similarity) & (sims >= theirs.nearest - 1e-6)).any(axis=1)

    def _aligned(self, claim: Claim, lang: str, question: str, candidates: list[Evidence]) -> list[Evidence]:
        """The candidates whose words are counterparts of the claim's (`words_align`), all encoded in one pass."""
        restates = _restates(claim.text, question, lang)
        names_answer = _only_names_an_answer(claim.text, question, lang)
        self._encode_words([claim.text, *(_aligned_text(tested, restates, names_answer) for tested in candidates)])
        return [tested for tested in candidates if self.words_align(claim, lang, question, tested)]

    def _word_vectors(self, text: str) -> list[tuple[str, np.ndarray]]:
        """Each word of the text with the mean of its tokens' vectors; [] without an embedder or token offsets."""
        return self._encode_words([text]).get(text, [])

    def _encode_words(self, texts: list[str]) -> dict[str, list[tuple[str, np.ndarray]]]:
        """Word vectors of the texts, those not seen lately in one pass of the embedding model (over ten lines it
        costs about what three single ones do). Read from the returned dict: another request may clear the cache."""
        if self.embedder is None:
            return {}
        known = {t: self._words.get(t) for t in texts}
        batch = [t for t, found in known.items() if found is None]
        if batch:
            if len(self._words) + len(batch) > 256:
                self._words.clear()
            for text, (offsets, vectors) in zip(batch, self.embedder.token_vectors(batch)):
                known[text] = self._words[text] = _words_of(text, offsets, vectors)
        return known

    def negated_where(self, claim: Claim, lang: str, evidence: Evidence, question: str = "") -> bool:
        """A negation in the part of the evidence that states the claim: its clauses holding what the claim adds to
        the question, else those holding any of its words ("founder of Scale AI, which does not build models"
        states "Wang founded Scale AI" without negation; "The NIC no longer keeps hosts.txt, ... from 92, 94 and
        95" states the years without one)."""
        words = analyzer(lang)
        mine = words.terms(claim.text) - filler_terms(lang)
        answer = self.added_words(claim, lang, question) if question else set()  # common words left out already
        clauses = [c for c in CLAUSE.split(evidence.text) if c.strip()]
        relevant = (
            [c for c in clauses if words.terms(c) & answer] or [c for c in clauses if words.terms(c) & mine] or clauses
        )
        strings = F.quoted_as_written(claim.text)  # messages, even where the source does not quote them
        return any(
            has_negation(F.unquoted(c, strings), evidence.lang)
            and not self._states_the_condition(mine, c, evidence.lang)
            for c in relevant
        )

    @staticmethod
    def _states_the_condition(mine: set[str], clause: str, lang: str) -> bool:
        """The claim holds what a conditional negation requires ("install man-db" of "not available until they
        install these packages"): it states the requirement, not the denial. Without the condition's words
        ("covers water damage" of "does not cover it unless registered") the negation stands."""
        condition = condition_after_negation(clause, lang)
        words = analyzer(lang)
        required = words.terms(condition) - filler_terms(lang)
        return bool(required) and all(w in mine or _derived(w, mine) for w in required)

    def about_the_subject(self, claim: Claim, lang: str, question: str, evidence: Evidence) -> bool:
        """The words the claim repeats from the question (its subject: "dpkg-reconfigure", "replaced") are in what
        the model read: "dpkg-reconfigure reconfigures an installed package" is not stated by lines about installed
        packages that never name dpkg-reconfigure."""
        words = analyzer(lang)
        read = _terms_of(evidence.read or evidence.surroundings, lang)
        names_answer = _only_names_an_answer(claim.text, question, lang)
        if names_answer:
            # "`defaults` remounts read-only on errors" for "Which option remounts read-only on errors?": the line
            # naming the answer must be the one that says what the question asks, not some other line read.
            # A bare value ("With `make deb-pkg`.") repeats nothing of the question and asserts all of it.
            subject = _asserted_of_value(claim.text, question, lang) or _asked_terms(question, lang)
            if _adds_only_numbers(claim.text, question, lang):
                # The question's word for the kind of quantity ("the range of", "which year") is what the numbers
                # are, unsaid by the line giving them: "the positive levels (from 1 to 19)".
                subject = subject - kind_terms(lang)
            read = _terms_of(evidence.near, lang)
        else:
            subject = _repeated_terms(claim.text, question, lang)
            if all(s.unit.kind == "row" for s in evidence.sources):
                # A row is a record of its own: a word of the question that another row holds and this one lacks
                # names another record ("jessie" of one row does not make the next row's date its date).
                own = words.terms(" ".join([evidence.text, evidence.context]))
                if (subject & words.terms(" ".join(_other_rows(evidence)))) - own:
                    return False
        missing = {w for w in subject - read if not _derived(w, read)}
        if names_answer:
            # It asserts the question's words of the value it names: "`hosts(5)` encrypts the hosts file" is not
            # stated by the line naming hosts(5) without "encrypt". Less than a third may be missing ("il faut"),
            # each word weighed by how seldom the corpus uses it: "Debian" and "package" do not make up for "encrypt".
            return 3 * self._weight(missing) < self._weight(subject)
        # The question's own framing ("the handbook's table lists...") may be missing: up to a third of it.
        return len(missing) <= len(subject) // 3

    def leaves_the_question(self, claim: Claim, lang: str, question: str, stated_by: str = "") -> bool:
        """The claim and the lines that state it (`stated_by`) leave out more than `question_share` of what the
        question asks about (its words weighed by `term_weight`, the interrogatives and the words for a kind of
        value left aside), and the claim does more than name an answer: however true, it speaks of something else
        ("Paul Vixie is the author of this page" for "Who translated it into Spanish?"). A terse answer resting on
        a line that holds the question's words ("dpkg, apt, aptitude" of "three ways of holding back packages")
        speaks of what is asked. A claim naming only a value is held to the question's words where the value is
        read (`about_the_subject`); a question of fewer than two such words tells too little."""
        asked = _asked_terms(question, lang)
        if len(asked) < FEWEST_ASKED or _only_names_an_answer(claim.text, question, lang):
            return False
        said = analyzer(lang).terms(f"{claim.text} {stated_by}")
        left = {t for t in asked if t not in said and not _derived(t, said)}
        return self._weight(left) > self.question_share * self._weight(asked)

    @staticmethod
    def gives_no_count(claim: Claim, lang: str, question: str) -> bool:
        """The question asks how many ("how many", "wie viele") and the claim gives no number, nor a count in words
        ("none", "only one"): however true, it answers something else ("The file /etc/anacrontab describes the jobs"
        for "How many jobs may it hold at most?"). A question for another quantity ("combien de temps") is left
        aside: "more than a decade" answers it."""
        words = languages.get(lang)
        if not holds_phrase(question, words.count_questions) or holds_phrase(question, words.not_count_questions):
            return False
        return not F.quantities(claim.text, lang) and not holds_phrase(claim.text, words.counts)

    def leaves_the_conversation(self, claim: Claim, lang: str, question: str, turns: list[dict], stated_by: str = "") -> bool:
        """A follow-up of fewer than two words of its own (too little to tell, as in `leaves_the_question`) that
        points back ("And how do I just display it?") asks about what the conversation spoke of: the claim and the
        lines stating it (`stated_by`) name nothing the last question asked about nor any name or code the last
        answer gave ("dpkg --listfiles" after "How do I edit my crontab?"), however true: it answers another
        question. A short question pointing nowhere ("What is fstab?") may change the subject."""
        earlier = last_said(turns, "user")
        if not earlier or len(_asked_terms(question, lang)) >= FEWEST_ASKED or not _refers_back(question, lang):
            return False
        given = F.facts(last_said(turns, "assistant"), lang)
        words = analyzer(lang)
        spoken = _asked_terms(earlier, lang) | words.terms(" ".join([*given.names, *given.code]))
        said = words.terms(f"{claim.text} {stated_by}")
        return bool(spoken) and not any(t in said or _derived(t, said) for t in spoken)

    # ---------------------------------------------------------------- one answer

    def check(self, claims: list[Claim], lang: str, question: str, sources: dict[int, Source], judge: Judge | None) -> None:
        """Decide every claim: supported (with the units that state it) or not, and why.

        The units the claim cites are tried first, then every other unit: facts and words cost nothing to test.
        What only a judge can settle goes to it with the cited units, or else the two most similar units.
        """
        pending: list[tuple[Claim, list[list[Source]]]] = []
        read = _everything_read(sources)
        others = _other_definitions(question, sources)
        for claim in claims:
            if unfinished(claim.text, lang):
                claim.reason = "unfinished"
                continue
            if claim.unsourced:
                # The model's own mark that no source states it ("apt-cache [0]"): a line holding its words may
                # still be found, but the model wrote it from elsewhere.
                claim.reason = "unsourced"
                continue
            if _copies_a_header(claim.text, list(sources.values())):
                claim.reason = "header"
                continue
            cited = [sources[k] for k in claim.cited if k in sources]
            if len(cited) > self.max_cited:
                cited = self._item_lines(claim, lang, cited)
            options = _with_neighbours(cited, sources) + [[s] for k, s in sorted(sources.items()) if s not in cited]
            options = [kept for option in options if (kept := [s for s in option if s.k not in others])]
            # A claim citing only lines of its own language says where it rests, where words can tell: a line of
            # another language it does not cite is no support ("gzip" of a claim, judged against an uncited line).
            own_language = bool(cited) and all(s.unit.lang == lang for s in cited)
            across, near = [], []
            for evidence in options:
                if _only_announced(claim, lang, evidence):
                    continue  # a line announcing what follows ("To list them, run:") states no answer alone
                tested = Evidence(evidence, read)
                missing = self.facts_hold(claim, lang, tested, question)
                if missing:
                    if evidence is options[0]:
                        claim.reason = missing
                    continue
                fit = self.word_fit(claim, lang, question, tested)
                if fit == "words":
                    _accept(claim, evidence, "words")
                    break
                if evidence[0].unit.lang != lang:
                    if not own_language:
                        across.append(tested)  # across languages the words cannot tell: counterparts, then a judge
                elif fit == "near":
                    near.append(tested)  # most of its words: a paraphrase, if e5 says so
            viable = []
            if across and not claim.supported:
                viable = [tested.sources for tested in self._aligned(claim, lang, question, across)]
            if not claim.supported and not viable:
                asked = {k: s for k, s in sources.items() if k not in others}
                self._two_lines(claim, lang, question, [s for s in cited if s.k in asked], asked, read)
            if not claim.supported and not viable and near:
                self._paraphrase(claim, lang, question, near)
            if claim.supported:
                continue
            if viable:
                pending.append((claim, self._closest(claim, viable, cited)))
            else:
                claim.reason = claim.reason or "words"
        _judge(pending, judge)

    def _paraphrase(self, claim: Claim, lang: str, question: str, near: list[Evidence]) -> None:
        """Within one language, accept a claim that lacks some of its words in a line ("una lista de sistemas de
        archivos" of "información que describe los sistemas de ficheros") when each word it adds has a counterpart
        there and their e5 cosine reaches `near_similarity` (above the scale `similarity` rescales to, where e5
        still tells "the file systems it can mount" from "the users it can log in"): a paraphrase. Facts, subject
        and polarity have held already."""
        if self.embedder is None:
            return
        viable = self._aligned(claim, lang, question, near)
        if not viable:
            return
        scores = self.cosines([claim.text], [tested.text for tested in viable])[0]
        best = int(np.argmax(scores))
        if scores[best] >= self.near_similarity:
            _accept(claim, viable[best].sources, "paraphrase")

    def _item_lines(self, claim: Claim, lang: str, cited: list[Source]) -> list[Source]:
        """Of the many lines a claim cites, those stating its items, when it lists code, numbers or quoted strings
        that lines under one heading of one document hold ("apt-get source foo, cd foo-*, debuild -us -uc" rests
        on three command lines); else none: a sentence citing every line cites none in particular."""
        mine = F.facts(claim.text, lang)
        wanted: list[Callable[[Source], bool]] = [
            *(lambda s, t=t: F.contains_code(t, s.text) for t in mine.code),
            *(lambda s, v=v: any(q.value == v for q in F.quantities(s.text, s.unit.lang)) for v in mine.numbers),
            *(lambda s, q=q: F.contains_quote(q, _folded(s.text)) for q in mine.quotes),
        ]
        found: dict[int, Source] = {}
        for holds in wanted:
            line = next((s for s in cited if holds(s)), None)
            if line is None:
                return []
            found[line.k] = line
        if len({(s.passage.doc.doc_id, s.unit.context) for s in found.values()}) != 1:
            return []  # lines of different documents or sections may speak of different things
        return [found[k] for k in sorted(found)]

    def _two_lines(self, claim: Claim, lang: str, question: str, cited: list[Source], sources: dict[int, Source], read: str) -> None:
        """Accept a claim that two lines under the same heading state together, one of them a list item, table row,
        definition or code line ("three ways: dpkg, apt or aptitude" and "dpkg --set-selections < selections.txt"),
        one of them cited when the claim cites any. Lines of different sections are never joined."""
        words = analyzer(lang)
        wanted = words.terms(claim.text) - filler_terms(lang)
        overlap = {k: len(wanted & words.terms(s.text)) for k, s in sources.items() if s.unit.lang == lang}
        near = sorted((k for k, n in overlap.items() if n), key=lambda k: -overlap[k])[: self.pair_candidates]
        for i, a in enumerate(near):
            for b in near[i + 1 :]:
                first, second = sorted((sources[a], sources[b]), key=lambda s: s.k)
                if cited and first not in cited and second not in cited:
                    continue
                if first.passage.doc.doc_id != second.passage.doc.doc_id or first.unit.context != second.unit.context:
                    continue
                if not {first.unit.kind, second.unit.kind} & set(STRUCTURED_KINDS) or _records(first, second):
                    continue  # two prose sentences may speak of different things: "14 billion" + "AMI Labs"
                evidence = Evidence([first, second], read)
                if _only_announced(claim, lang, [first, second]):
                    continue
                if not self.facts_hold(claim, lang, evidence, question) and self.words_hold(claim, lang, question, evidence):
                    _accept(claim, [first, second], "words")
                    return

    def _closest(self, claim: Claim, viable: list[list[Source]], cited: list[Source], n: int = 2) -> list[list[Source]]:
        """The evidence worth a judge's time: the cited units when they are viable, else the n most similar units."""
        if cited and viable[0] == cited:  # noqa: SIM102
            return viable[:1]
        scores = self.similarity([claim.text], [" ".join(s.text for s in ev) for ev in viable])[0]
        return [viable[i] for i in np.argsort(-scores, kind="stable")[:n]]

    # ---------------------------------------------------------------- similarity

    def similarity(self, claims: list[str], texts: list[str]) -> np.ndarray:
        """e5 cosine between each claim and each text (claims x texts), rescaled to 0 (unrelated) .. 1 (paraphrase)."""
        cos = self.cosines(claims, texts)
        return np.clip((cos - SEMANTIC_FLOOR) / (SEMANTIC_CEILING - SEMANTIC_FLOOR), 0.0, 1.0)

    def cosines(self, claims: list[str], texts: list[str]) -> np.ndarray:
        """e5 cosine between each claim and each text (claims x texts); zeros without an embedder."""
        if self.embedder is None or not claims or not texts:
            return np.zeros((len(claims), len(texts)), dtype=np.float32)
        vectors = self.embedder.embed_queries(claims + texts)  # one prompt on both sides: a symmetric comparison
        return vectors[: len(claims)] @ vectors[len(claims) :].T


def _added_terms(claim: str, question: str, lang: str) -> set[str]:
    """The claim's analysed words that the question lacks, common words left out (`SupportChecker.added_words`); a
    word the question holds with another ending ("connu" of "connus", which Snowball leaves apart) is the
    question's, not a word it begins ("Dateisysteme" of "Datei")."""
    words = analyzer(lang)
    asked = words.terms(question)
    return {t for t in words.terms(claim) - asked - filler_terms(lang) if not _inflected(t, asked)}


def _inflected(term: str, terms: set[str], ending: int = 2) -> bool:
    """One of the terms is this one with at most `ending` letters more or fewer at its end ("connu", "connus"): a
    `_derived` form that is no compound."""
    return _derived(term, {t for t in terms if abs(len(t) - len(term)) <= ending})


def _repeated_terms(claim: str, question: str, lang: str) -> set[str]:
    """The question's words the claim repeats, common words left out: its subject."""
    words = analyzer(lang)
    return (words.terms(claim) & words.terms(question)) - filler_terms(lang)


def _asked_terms(question: str, lang: str) -> set[str]:
    """What a question asks about: its words but the common ones, the interrogatives and the words for a kind of value."""
    return analyzer(lang).terms(question) - filler_terms(lang) - interrogative_terms(lang) - kind_terms(lang)


def _refers_back(question: str, lang: str) -> bool:
    """The question holds a word pointing back to the conversation ("and", "it", "il", "es")."""
    return any(word.lower() in languages.get(lang).refers_back for word in WORD.findall(question))


def _asserted_of_value(claim: str, question: str, lang: str) -> set[str]:
    """What a claim naming a value asserts of it: the question's words it repeats, but those of a string the question
    quotes, which names what it asks about."""
    return _repeated_terms(claim, question, lang) - analyzer(lang).terms(" ".join(F.facts(question, lang).quotes))


@lru_cache(maxsize=64)  # the same claim for every line it is tried against
def _restates(claim: str, question: str, lang: str) -> bool:
    """The claim adds no word, code or number to the question: it asserts the question itself."""
    mine, asked = F.facts(claim, lang), F.facts(question, lang)
    return not _added_terms(claim, question, lang) and not (mine.code - asked.code or mine.numbers - asked.numbers)


def _aligned_text(evidence: Evidence, restates: bool, names_answer: bool = False) -> str:
    """Where a claim's words find their counterparts: the line; for a restatement the headings above it too; for a
    claim naming a value, also the line before it, which may say what the value is ("-r:" above its line)."""
    if names_answer:
        return evidence.near
    return f"{evidence.text} {evidence.context}" if restates else evidence.text


@lru_cache(maxsize=64)  # the same claim for every line it is tried against
def _only_names_an_answer(claim: str, question: str, lang: str) -> bool:
    """All the claim adds to the question is a fact of its own (`defaults`, /etc/fstab, dpkg-deb, a name, "none", a
    number): it fills the question's blank and asserts the rest of the question of it."""
    mine, asked = F.facts(claim, lang), F.facts(question, lang)
    new = [*(mine.code - asked.code), *(mine.names - asked.names), *(set(mine.quotes) - set(asked.quotes))]
    new += [t for t in NAMED_VALUE.findall(claim) if t not in NAMED_VALUE.findall(question)]
    return _adds_only(claim, question, lang, new + _new_numbers(claim, question, asked.numbers, lang))


@lru_cache(maxsize=64)  # the same claim for every line it is tried against
def _adds_only_numbers(claim: str, question: str, lang: str) -> bool:
    """All the claim adds to the question is numbers ("from 1 to 19", "in 1996"), not a command or a name."""
    return _adds_only(claim, question, lang, _new_numbers(claim, question, F.facts(question, lang).numbers, lang))


def _new_numbers(claim: str, question: str, asked: frozenset[float], lang: str) -> list[str]:
    """The claim's numbers (as written) that the question does not give."""
    return [q.raw for q in F.quantities(claim, lang) if q.value not in asked]


def _adds_only(claim: str, question: str, lang: str, new: list[str]) -> bool:
    """These facts are all the claim adds to the question: some, and every added word is theirs."""
    return bool(new) and _added_terms(claim, question, lang) <= analyzer(lang).terms(" ".join(new))


@lru_cache(maxsize=64)  # the same claim for every line it is tried against
def _month_terms(claim: str, lang: str) -> frozenset[str]:
    """The analysed forms of the claim's month names: facts_hold has checked them."""
    return frozenset(analyzer(lang).terms(" ".join(F.month_words(claim, lang))))


# What the model read is the same text for every claim and every unit tried on it: analysed once per answer.
@lru_cache(maxsize=8)
def _facts_of(read: str, lang: str) -> F.Facts:
    return F.facts(read, lang)


def _quote_translated(quote: str, lang: str, theirs: tuple[str, ...]) -> bool:
    """Across languages, a quote whose small words were translated ("tabula rasa with a carte blanche" of « tabula
    rasa avec une carte blanche »): its other words, two or more, are all words of one quote of the source."""
    small = analyzer(lang).stop_words
    mine = [w for w in WORD.findall(quote) if w not in small]
    return len(mine) >= 2 and any(set(mine) <= set(WORD.findall(q)) for q in theirs)


def _mostly_absent(names: list[str], folded: str, endings: tuple[str, ...], translated: frozenset[str] = frozenset()) -> str:
    """The first (sorted) of the names the folded text lacks when it lacks more than a third of them, else ''. The
    `translated` names (folded) are there."""
    absent = sorted(n for n in names if fold(n) not in translated and not F.contains_word(n, folded, endings))
    return absent[0] if len(absent) > len(names) // 3 else ""


@lru_cache(maxsize=16)  # what the model read, for every line tried
def _name_phrases(text: str, names: frozenset[str]) -> dict[str, frozenset[str]]:
    """Each name of the text (folded) with the folded words of the multiword name it is part of ("Turing Award")."""
    phrases: dict[str, frozenset[str]] = {}
    run: list[str] = []
    end = 0
    for match in WORD.finditer(text):
        if match.group() in names and (not run or not text[end : match.start()].strip()):
            run.append(fold(match.group()))
        else:
            phrases.update({n: frozenset(run) for n in run})
            run = [fold(match.group())] if match.group() in names else []
        end = match.end()
    phrases.update({n: frozenset(run) for n in run})
    return phrases


def _translated(phrases: dict[str, frozenset[str]], text: str, names: frozenset[str]) -> frozenset[str]:
    """The question's names that the text translates but for a part (« prix Turing » of "Turing Award"): a name of
    the text is all of its own multiword name and a part of the question's. Another name sharing a word of it
    ("Superintelligence Labs" of "Advanced Machine Intelligence Labs") is not it."""
    if not phrases:
        return frozenset()
    theirs = set(_name_phrases(text, names).values())
    return frozenset(n for n, phrase in phrases.items() if len(phrase) > 1 and any(p < phrase for p in theirs))


def _name_stands(name: str, folded: str, words: set[str], across: bool, endings: tuple[str, ...]) -> bool:
    """The name is a word of the folded text, or across languages an acronym or a translation resembling one of its
    words: names are translated too (CEO/PDG, AI/IA, Fundamental/fondamentale)."""
    return F.contains_word(name, folded, endings) or (across and (name.isupper() or _resembles(name, words)))


def _words_of(text: str, offsets: list[tuple[int, int]], vectors: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Each word of the text with the mean of its tokens' vectors, unit length."""
    found = []
    for match in WORD.finditer(text):
        rows = [i for i, (a, b) in enumerate(offsets) if b > a and a < match.end() and b > match.start()]
        if rows:
            mean = vectors[rows].mean(axis=0)
            found.append((match.group(), mean / max(float(np.linalg.norm(mean)), 1e-9)))
    return found


@lru_cache(maxsize=8)
def _folded(read: str) -> str:
    return " ".join(fold(read).split())


@lru_cache(maxsize=8)
def _terms_of(read: str, lang: str) -> frozenset[str]:
    return frozenset(analyzer(lang).terms(read))


def _everything_read(sources: dict[int, Source]) -> str:
    """The text of every source line, heading and document title the model read."""
    parts: dict[str, None] = {}
    for source in sources.values():
        evidence = Evidence([source])
        doc = source.passage.doc
        parts.update(dict.fromkeys([source.text, evidence.context, doc.title, str(doc.metadata.get("publisher") or "")]))
    return " ".join(parts)


def _with_neighbours(cited: list[Source], sources: dict[int, Source]) -> list[list[Source]]:
    """The cited lines, then with the line before or after them when one of the two is part of a list, a table
    or a definition, or when the first of the two breaks off mid-sentence (a page or line break cut it in two);
    then the list they belong to, with the line that opens it: an answer may rest on the sentence that introduces
    a list and its items. Two whole sentences of prose stay apart: their facts may belong to different things."""
    if not cited:
        return []
    ks = sorted(s.k for s in cited)
    out = [cited]
    for k, edge in ((ks[0] - 1, ks[0]), (ks[-1] + 1, ks[-1])):
        near = sources.get(k)
        if near is None or near.passage is not sources[edge].passage or len(ks) >= 3:
            continue
        first = near if k < edge else sources[edge]
        if _records(near, sources[edge]):
            continue
        if {near.unit.kind, sources[edge].unit.kind} & set(STRUCTURED_KINDS) or _runs_on(first.text):
            out.append(sorted(cited + [near], key=lambda s: s.k))
    block = _list_block(cited, sources)
    if len(block) > 2 and block not in out:
        out.append(block)
    return out


def _other_definitions(question: str, sources: dict[int, Source]) -> set[int]:
    """The lines defining the terms a question does not ask about, when it asks about a sibling term: "What does
    nofail do?" is not answered by the line under "owner" ("permits the owner of the device to mount it"), alone
    or joined to the list it belongs to. Siblings are definitions under the same headings of one document."""
    siblings: dict[tuple, list[Source]] = {}
    for source in sources.values():
        if source.unit.kind == "definition" and source.unit.context:
            siblings.setdefault((source.passage.doc.doc_id, source.unit.context[:-1]), []).append(source)
    others: set[int] = set()
    for group in siblings.values():
        terms = {s.k: _defined_term(s) for s in group}
        shared = set.intersection(*terms.values())
        named = {s.k for s in group if (terms[s.k] - shared) & analyzer(s.unit.lang).terms(question)}
        if named:
            others |= {s.k for s in group if s.k not in named}
    return others


def _defined_term(source: Source) -> set[str]:
    """The analysed words of the term a definition line defines: the innermost heading above it."""
    start, end = source.unit.context[-1]
    return set(analyzer(source.unit.lang).terms(source.passage.doc.text[start:end]))


def _runs_on(text: str) -> bool:
    """Whether a line stops where its sentence goes on: it ends with a letter, a digit or a comma."""
    end = text.rstrip()[-1:]
    return bool(end) and (end.isalnum() or end in ",")


def _list_block(cited: list[Source], sources: dict[int, Source], limit: int = 8) -> list[Source]:
    """The line ending with a colon that opens a list, and the items, rows or definitions under it, when the claim
    cites any of them (at most `limit` lines); [] when the cited lines belong to no such list."""
    for source in cited:
        start = source.k
        while not opens_list(sources[start].text):
            before = sources.get(start - 1)
            if before is None or before.passage is not source.passage or sources[start].unit.kind not in STRUCTURED_KINDS:
                break
            start -= 1
        if not opens_list(sources[start].text):
            continue
        block = [sources[start]]
        k = start + 1
        while k in sources and sources[k].passage is source.passage and sources[k].unit.kind in STRUCTURED_KINDS and len(block) < limit:
            block.append(sources[k])
            k += 1
        return block
    return []


def _other_rows(evidence: Evidence) -> list[str]:
    """The rows the model read beside the evidence's, in the same passages."""
    mine = {(id(s.passage), s.unit.start) for s in evidence.sources}
    passages = {id(s.passage): s.passage for s in evidence.sources}.values()
    return [p.doc.text[u.start : u.end] for p in passages for u in p.units if u.kind == "row" and (id(p), u.start) not in mine]


def _only_announced(claim: Claim, lang: str, evidence: list[Source]) -> bool:
    """The claim rests on lines announcing others ("To list them, run:") and holds nothing of the lines they
    announce: no code, number or quoted string of theirs, no word of theirs in its language ("The command to list
    them is [2]." with the command's line beside it)."""
    leads = [s for s in evidence if opens_list(s.text)]
    if not leads:
        return False
    rest = " ".join(s.text for s in evidence if s not in leads)
    if not rest:
        return True
    mine, theirs = F.facts(claim.text, lang), F.facts(rest, evidence[0].unit.lang)
    if mine.code & theirs.code or mine.numbers & theirs.numbers or set(mine.quotes) & set(theirs.quotes):
        return False
    if theirs.code:
        return True  # a command announced is the answer: its words ("list" of `apt list`) are not
    words = analyzer(lang)
    return not ((words.terms(claim.text) - filler_terms(lang)) & words.terms(rest))


def _records(a: Source, b: Source) -> bool:
    """Two rows of a table, or two items of a list: two records, whose words a claim may not join ("jessie" of one
    row, the release date of the next; "dpkg --info" of one item, "install" of the next)."""
    return a.unit.kind == b.unit.kind and a.unit.kind in ("row", "item")


def _accept(claim: Claim, evidence: list[Source], reason: str) -> None:
    claim.supported = True
    claim.support = [s.k for s in evidence]
    claim.reason = reason


def _judge(pending: list[tuple[Claim, list[list[Source]]]], judge: Judge | None) -> None:
    """Let the judge settle the claims the words could not; without a judge they stay unsupported."""
    if not pending or judge is None:
        for claim, _ in pending:
            claim.reason = claim.reason or "words"
        return
    items = [(claim, evidence) for claim, options in pending for evidence in options]
    for (claim, evidence), yes in zip(items, judge(items)):
        if yes and not claim.supported:
            _accept(claim, evidence, JUDGED_YES)
    for claim, _ in pending:
        if not claim.supported:
            claim.reason = "judge:no"


def _digits_alike(terms: set[str]) -> set[str]:
    """The terms, and each number's digits without leading zeros: the day of "1 August" is the 01 of 2027-08-01."""
    return terms | {t.lstrip("0") for t in terms if t.isdigit() and t.strip("0")}


def _derived(term: str, stated: set[str], shortest: int = 4) -> bool:
    """One stem begins the other (found/founder, fondé/fondateur, install/installation): Snowball leaves derived
    words apart, and a claim may say with a verb what its source says with a noun."""
    return len(term) >= shortest and any(len(t) >= shortest and (t.startswith(term) or term.startswith(t)) for t in stated)


def _copies_a_header(text: str, sources: list[Source]) -> bool:
    """The claim is made of the words of a passage's header (its source's name and headings, which the prompt
    shows above its lines) that no line says: it names where to look, not what is said there ("[crontab - Tabellen
    zum Betrieb von Cron · BESCHREIBUNG]"). A line saying the same (a manual's name line) is content."""
    mine = _plain_words(text)
    if len(mine) < 2:
        return False
    headers = {_plain_words(Evidence([s]).context) for s in sources}
    return any(mine <= header for header in headers) and not any(mine <= _plain_words(s.text) for s in sources)


def _plain_words(text: str) -> frozenset[str]:
    """The text's words as written, folded: nothing analysed, so that a copy is told from a statement."""
    return frozenset(WORD.findall(fold(text)))


def _resembles(name: str, words: set[str]) -> bool:
    """A translated name shares its first five letters with a word of the source ("Fundamental", "fondamentale" no;
    "Americain", "américain" yes)."""
    key = fold(name)
    return len(key) >= 5 and any(w.startswith(key[:5]) for w in words)


class Counterparts:
    """A source's word vectors, each with the similarity of the claim word nearest to it. e5 finds most words 0.8
    alike ("beschädigte" and "Debian"): across languages a source word is the counterpart of the claim's word
    nearest to it, as embedding word aligners match words (SimAlign), not of every word near enough (`mutual`).
    Built from the source's vectors alone, any word near enough is a counterpart."""

    def __init__(self, vectors: list[np.ndarray]) -> None:
        self.vectors = np.stack(vectors)
        self.nearest = np.full(len(vectors), -np.inf)

    @classmethod
    def mutual(cls, vectors: list[np.ndarray], common: np.ndarray, claim: list[np.ndarray], claim_common: np.ndarray) -> "Counterparts":
        """Each source word the counterpart only of the claim word nearest to it; a common word of the claim
        (`claim_common`: "an" of "zeigt ... an") is nearest only to a common word of the source (`common`)."""
        theirs = cls(vectors)
        if claim:
            sims = np.stack(claim) @ theirs.vectors.T
            sims[np.ix_(claim_common, ~common)] = -np.inf
            theirs.nearest = sims.max(axis=0)
        return theirs
