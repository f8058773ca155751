"""What prompt text reveals, reduced to booleans at once: the text itself is never kept.

Phrases cover several languages because distillation sweeps run across many of them. Matching
is plain substring search on lower-cased text: every word list below is found in one pass by an
Aho-Corasick automaton (`scan`), ~3x faster than the ~100 `in` tests it replaces, and ~30x
faster than one big IGNORECASE regex, which Python's regex engine tries alternative by
alternative at every position.
"""

from __future__ import annotations

import re

import ahocorasick
import msgspec

# Reasoning-elicitation phrases by language: which one matched also tells the prompt's language,
# so "reasoning asks in many languages" (a sweep) costs nothing extra.
REASONING_BY_LANGUAGE = {
    "en": ("step by step", "step-by-step", "show your work", "show your reasoning", "show all steps",
           "show the steps", "think it through", "think through", "explain your reasoning",
           "explain your thought process", "explain your thinking", "chain of thought",
           "chain-of-thought", "reason carefully", "walk me through your", "before answering, think",
           "do not skip any step"),
    "es": ("paso a paso", "muestra tu razonamiento", "explica tu razonamiento"),
    "fr": ("étape par étape", "montre ton raisonnement", "explique ton raisonnement"),
    "de": ("schritt für schritt", "zeige deine überlegungen", "erkläre deine überlegungen"),
    "it": ("passo a passo", "mostra il tuo ragionamento"),
    "pt": ("mostre seu raciocínio", "passo a passo"),
    "ru": ("шаг за шагом", "объясни свои рассуждения", "объясните свои рассуждения"),
    "zh": ("一步一步", "逐步", "请展示你的推理", "思考过程"),
    "ja": ("ステップバイステップ", "段階的に"),
    "ko": ("단계별로",),
}
LANGUAGES = tuple(REASONING_BY_LANGUAGE)
# Judge / reward prompts, by the grammar of grading rather than any framework's template: the
# thing evaluated (a response, answer, output...) with a judging word ("judge", "evaluate",
# "rubric"...), or with a milder grading word ("rate", "score", "compare"...) and a scoring
# format (a scale, "[[...]]", a verdict); or a second labelled candidate ("Assistant B",
# "Response (b)", "Output b"): two candidates side by side are a comparison.
JUDGE_WORDS = ("judge", "evaluat", "rubric", "verdict", "grading")
GRADE_WORDS = ("assess", "rate ", "rating", "score", "grade ", "critique", "compare", "better")
# "answer" alone is too common ("Answer:" ends label prompts), and so is "the answer" (worked
# exemplars end "so the answer is ..."): the answers, or an answer pointed at.
GRADED_THINGS = ("response", "answers", "output", "completion", "assistant", "summar",
                 "the answer below", "the answer above", "this answer", "the answer provided",
                 "the given answer", "the answer given", "candidate answer", "model answer")
SCALE_WORDS = ("on a scale", "scale of", "scale from", "rubric", "verdict", "[[", "score:",
               "rating:", "1 to 10", "1-10", "1 to 5", "1-5", "criteria", " tie", "is better")
CANDIDATES = ("assistant", "response", "output", "completion", "candidate", "summar")
LABELLED = ("assistant", "response", "output", "completion", "candidate", "summary")
_SECOND_CANDIDATE = re.compile(rf"\b(?:{'|'.join(LABELLED)})\s?[(\[]?b[)\]]?(?:'s)?\b")


# Beyond the phrases, an English ask for the process by its grammar: a verb that asks to show
# something and a noun of the process ("Explain how you got there", "Give the full
# derivation", "Detail every intermediate result", "Work it out slowly"). Apps phrase their
# asks in their own words; a list of phrases alone misses most of them.
PROCESS_VERBS = ("explain", "show", "give", "detail", "walk", "justify", "describe", "write out",
                 "work", "reason", "think", "break down", "lay out", "go through", "include")
PROCESS_NOUNS = ("step", "stage", "derivation", "working", "intermediate", "reasoning",
                 "thought process", "how you", "it out", "your logic", "your thinking",
                 "calculation")
# Every phrase and process noun contains one of these stems (and no stem is there for a phrase
# that holds another, such as "skip" beside "step"): most prompts contain none and are
# done after a few substring scans (the non-ASCII stems only for text that is not ASCII).
REASONING_STEMS = ("step", "think", "thought", "reason", "walk me", "stage", "deriv",
                   "working", "intermediate", "how you", "it out", "logic", "calculation",
                   "paso", "passo", "razonamiento", "raisonnement", "ragionamento")
WIDE_STEMS = ("étape", "schritt", "überlegungen", "raciocínio", "шаг", "рассужд", "一步", "逐步",
              "推理", "思考", "ステップ", "段階", "단계")


# Bits of a `scan` mask: one per word list, then one per reasoning phrase in the order of
# REASONING_BY_LANGUAGE (the lowest phrase bit found is the first listed phrase the text has).
STEM, WIDE, NOUN, VERB, CANDIDATE, GRADED, JUDGE, GRADE, SCALE = (1 << i for i in range(9))
_LISTS = ((STEM, REASONING_STEMS), (WIDE, WIDE_STEMS), (NOUN, PROCESS_NOUNS),
          (VERB, PROCESS_VERBS), (CANDIDATE, (*CANDIDATES, "answer")), (GRADED, GRADED_THINGS),
          (JUDGE, JUDGE_WORDS), (GRADE, GRADE_WORDS), (SCALE, SCALE_WORDS))
_PHRASE_SHIFT = 9
_PHRASES = tuple((phrase, 1 << bit) for bit, phrases in enumerate(REASONING_BY_LANGUAGE.values())
                 for phrase in phrases)  # (phrase, language bit), in listed order


def _needle_masks() -> dict[str, int]:
    """Each word or phrase with the bits it sets; a phrase listed twice keeps its first place."""
    masks: dict[str, int] = {}
    for bit, words in _LISTS:
        for word in words:
            masks[word] = masks.get(word, 0) | bit
    first: dict[str, int] = {}
    for rank, (phrase, _) in enumerate(_PHRASES):
        first.setdefault(phrase, rank)
    for phrase, rank in first.items():
        masks[phrase] = masks.get(phrase, 0) | 1 << (_PHRASE_SHIFT + rank)
    return masks


_MASKS_BY_NEEDLE = _needle_masks()


def _automaton() -> ahocorasick.Automaton:
    """Every word and phrase, each with the bits it sets. pyahocorasick keeps the GIL while it
    scans: ahocorasick-rs (faster alone) releases it for every call, and in the worker, whose
    PostgreSQL writer and metrics server are threads, each prompt then waited for another
    thread's switch interval: 2k scans/s instead of 590k beside one busy thread."""
    automaton = ahocorasick.Automaton()
    for needle, bits in _MASKS_BY_NEEDLE.items():
        automaton.add_word(needle, bits)
    automaton.make_automaton()
    return automaton


_AUTOMATON = _automaton()


def scan(low: str) -> int:
    """The mask of every word list (and reasoning phrase) that `low` contains: what
    `reasoning_language` and `is_grading_prompt` read. The automaton reports every occurrence
    of every word, nested ones too, so a bit is set exactly when `word in low` for one of its
    words."""
    mask = 0
    for _, bits in _AUTOMATON.iter(low):
        mask |= bits
    return mask


WINDOW = 256  # instructions sit at a prompt's start or end; documents in between are skipped


def instruction_view(text: str) -> str:
    """Lower-cased head and tail of the prompt: bounded cost even for a 1 MiB prompt."""
    if len(text) <= 2 * WINDOW:
        return text.lower()
    return f"{text[:WINDOW]} {text[-WINDOW:]}".lower()


def reasoning_language(low: str, mask: int | None = None) -> int:
    """Bit of the language whose reasoning phrase the prompt uses (0 when it asks for none).
    `low` is the prompt's `instruction_view`; `mask` its `scan`, if already made. Latin-script
    languages share "passo a passo" and the like; the first listed language wins, which is
    enough to count languages swept."""
    if mask is None:
        mask = scan(low)
    if not mask & STEM and (low.isascii() or not mask & WIDE):
        return 0
    phrases = mask >> _PHRASE_SHIFT
    if phrases:
        return _PHRASES[(phrases & -phrases).bit_length() - 1][1]
    if mask & NOUN and mask & VERB:
        return 1  # English
    return 0


def is_grading_prompt(low: str, mask: int | None = None) -> bool:
    """`low` is the prompt's `instruction_view`; `mask` its `scan`, if already made."""
    if mask is None:
        mask = scan(low)
    if not mask & CANDIDATE:  # most prompts: nothing graded, nothing compared
        return False
    if mask & GRADED and (mask & JUDGE or (mask & GRADE and mask & SCALE)):
        return True
    return _names_second_candidate(low)


def view_signals(text: str) -> tuple[int, bool]:
    """(reasoning_language, is_grading_prompt) of the prompt's instruction view, scanned once."""
    view = instruction_view(text)
    mask = scan(view)
    return reasoning_language(view, mask), is_grading_prompt(view, mask)


def _names_second_candidate(low: str) -> bool:
    """`_SECOND_CANDIDATE.search(low)`, tried only where one of its words starts: a search
    tries an alternation at every position (~3x slower on prompts that name a candidate)."""
    for word in LABELLED:
        at = low.find(word)
        while at >= 0:
            if _SECOND_CANDIDATE.match(low, at) is not None:
                return True
            at = low.find(word, at + 1)
    return False


# Writing systems by Unicode block start: language-agnostic, so a sweep in any number of
# languages counts, not only those with a listed reasoning phrase.
_SCRIPT_RANGES = ((0x0041, 0x024F), (0x0370, 0x03FF), (0x0400, 0x052F), (0x0590, 0x05FF),
                  (0x0600, 0x06FF), (0x0900, 0x097F), (0x0980, 0x09FF), (0x0E00, 0x0E7F),
                  (0x10A0, 0x10FF), (0x3040, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7AF),
                  (0x0530, 0x058F), (0x0B80, 0x0BFF), (0x0C00, 0x0C7F), (0x1200, 0x137F))


_LATIN = re.compile(f"[{chr(_SCRIPT_RANGES[0][0])}-{chr(_SCRIPT_RANGES[0][1])}]")


def _at_least_three(lo: int, hi: int) -> re.Pattern:
    """A pattern found iff the text has three characters in lo..hi: the search stops at the
    third instead of listing every one (`findall` of a whole Cyrillic prompt is ~300 items)."""
    one, other = f"[{chr(lo)}-{chr(hi)}]", f"[^{chr(lo)}-{chr(hi)}]*"
    return re.compile(f"{one}{other}{one}{other}{one}")


_OTHER_SCRIPTS = tuple((1 << i, _at_least_three(lo, hi))
                       for i, (lo, hi) in enumerate(_SCRIPT_RANGES) if i)  # (bit, pattern)
_THREE_ASCII_LETTERS = re.compile("[A-Za-z][^A-Za-z]*[A-Za-z][^A-Za-z]*[A-Za-z]")
# Every block but Latin starts at or above Greek: text with no character there (accented Latin,
# most non-ASCII prompts) has no other script, whatever the 15 patterns would scan.
_ABOVE_LATIN = re.compile(f"[{chr(min(lo for lo, _ in _SCRIPT_RANGES[1:]))}-\U0010ffff]")


def scripts_of(text: str, sample: int = 400) -> int:
    """Bitmask of the writing systems of the letters in the prompt's first `sample` chars
    (a script counts when it has at least 3 letters, so a quoted word does not). Three ASCII
    letters settle Latin, and ASCII text (most prompts) has no other script to look for."""
    head = text[:sample]
    latin = _THREE_ASCII_LETTERS.search(head) is not None
    if head.isascii():
        return int(latin)
    mask = int(latin or _is_latin(head))
    if _ABOVE_LATIN.search(head) is None:
        return mask
    for bit, pattern in _OTHER_SCRIPTS:
        if pattern.search(head) is not None:
            mask |= bit
    return mask


def _is_latin(head: str) -> bool:
    """Three characters of the Latin blocks, one of them a letter (the blocks hold punctuation
    and signs too), for text with fewer than three ASCII letters."""
    found = _LATIN.findall(head)
    return len(found) >= 3 and any(c.isalpha() for c in found)


def is_choice_item(text: str) -> bool:
    """A multiple-choice item: at least three option lines labelled A/B/C/D (any of "A)",
    "(A)", "A.", "A:"). One-token reads of its answer reveal a choice, not a distribution."""
    tail = text[-1500:]
    found = 0
    for label in "ABCD":
        if (f"\n{label})" in tail or f"({label})" in tail or f"\n{label}." in tail
                or f"\n{label}:" in tail or f" {label}) " in tail):
            found += 1
    return found >= 3


def is_closed_question(text: str) -> bool:
    """A prompt whose answer is a label, not a continuation: a multiple-choice item, or a prompt
    that ends by asking (a question mark, or a colon as in "Answer:" or "Sentiment:"). A logprob
    read of its answer reveals a choice among few labels, not the model's next-token
    distribution over open text."""
    end = text.rstrip()[-1:]
    return end in "?:\uff1f\uff1a" or is_choice_item(text)


class TextSignals(msgspec.Struct, array_like=True, frozen=True):
    """Everything the profile reads of a prompt's text, derived once: what a re-keyed event
    carries on the internal topic instead of the text (models/event.py `Prompt.signals`)."""

    language: int    # reasoning_language of the instruction view (0: no reasoning ask)
    grading: bool    # is_grading_prompt
    closed: bool     # is_closed_question
    scripts: int     # scripts_of


def derive(text: str) -> TextSignals:
    language, grading = view_signals(text)
    return TextSignals(language, grading, is_closed_question(text), scripts_of(text))
