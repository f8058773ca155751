"""Text signals: the grammar of grading prompts against the text benchmarks carry."""

import threading
import time

from distillguard.models.text_signals import (
    _LISTS,
    _PHRASE_SHIFT,
    _PHRASES,
    LANGUAGES,
    PROCESS_NOUNS,
    REASONING_BY_LANGUAGE,
    REASONING_STEMS,
    WIDE_STEMS,
    instruction_view,
    is_grading_prompt,
    reasoning_language,
    scan,
    scripts_of,
)


def test_worked_exemplars_are_not_grading_prompts():
    exemplar = ("Evaluate the result of a random Boolean expression.\n\nQ: not ( True ) and "
                "( True ) is\nA: Let's think step by step. Let's evaluate A: A = not ( True ) = "
                "False. So the answer is False.\n\nQ: True and not False is\nA:")
    assert not is_grading_prompt(instruction_view(exemplar))
    judge = ("Please act as an impartial judge and evaluate the quality of the responses "
             "provided by two AI assistants. Output your final verdict: [[A]], [[B]] or [[C]].")
    assert is_grading_prompt(instruction_view(judge))
    assert is_grading_prompt(instruction_view(
        "Rate the answer below on a scale of 1 to 10.\n\nThe answer below: forty-two"))


def test_scripts_count_three_letters_of_each_writing_system():
    assert scripts_of("Explain step by step") == 1
    assert scripts_of("ab 12 ,.") == 0                # two letters are a quoted word
    assert scripts_of("x" * 400 + "Привет") == 1      # only the first 400 chars are read
    assert scripts_of("Объясни шаг за шагом") == 1 << 2
    assert scripts_of("请一步一步解释 ok") == 1 << 10  # two ASCII letters are no Latin
    assert scripts_of("¿½°÷ 请一步") == 1 << 10       # Latin-block signs are no letters
    assert scripts_of("é½° 请一步") == 1 | 1 << 10    # ...but one letter among three is
    assert scripts_of("Explain: Привет, 你好世界") == 1 | 1 << 2 | 1 << 10


def test_a_second_labelled_candidate_is_a_comparison():
    assert is_grading_prompt(instruction_view("Which is more helpful? Assistant B's reply."))
    assert is_grading_prompt(instruction_view("Unresponse b, then Response (B): shorter."))
    assert not is_grading_prompt(instruction_view("Summarize the responses below."))
    assert not is_grading_prompt(instruction_view("Unresponse b: an answer"))  # no word start


def test_every_reasoning_phrase_and_process_noun_holds_a_stem():
    """The stems are reasoning_language's pre-check: a phrase without one would never match."""
    phrases = [p for ps in REASONING_BY_LANGUAGE.values() for p in ps] + list(PROCESS_NOUNS)
    for phrase in phrases:
        stems = REASONING_STEMS if phrase.isascii() else REASONING_STEMS + WIDE_STEMS
        assert any(stem in phrase for stem in stems), phrase


def test_one_scan_finds_exactly_the_words_each_list_contains():
    """`scan` (one automaton pass) sets a list's bit iff `word in low` for one of its words,
    overlapping and nested words included, and text with a lone surrogate alike."""
    texts = ["", "stepstage", "the answers below: assistant b's response is better, rate 1-10",
             "schritt", "explique ton raisonnement étape par étape", "passo a passo",
             "work it out, show how you got there", "judge\ud800 the response", "一步一步思考过程"]
    for low in texts:
        expected = 0
        for bit, words in _LISTS:
            expected |= bit if any(w in low for w in words) else 0
        for rank, (phrase, _) in enumerate(_PHRASES):
            if phrase in low and all(p != phrase for p, _ in _PHRASES[:rank]):
                expected |= 1 << (_PHRASE_SHIFT + rank)
        assert scan(low) == expected, low
    assert reasoning_language("schritt") == 0           # ASCII: only the English stems count
    assert reasoning_language("passo a passo") == 1 << LANGUAGES.index("it")  # first listed


def test_scanning_keeps_up_beside_a_busy_thread():
    """The worker runs threads beside its event loop (the PostgreSQL writer, the metrics
    server). A matcher that releases the GIL on every call waits out another thread's switch
    interval each time (~2k scans/s instead of ~500k, seen with ahocorasick-rs); one that keeps
    it shares the GIL as plain Python does. 2,000 scans take ~10 ms that way, ~1 s the other."""
    busy = threading.Event()
    busy.set()

    def spin() -> None:
        while busy.is_set():
            pass

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    try:
        started = time.perf_counter()
        for i in range(2000):
            scan(f"please explain step by step why {i} is the answer")
        elapsed = time.perf_counter() - started
    finally:
        busy.clear()
        spinner.join()
    assert elapsed < 0.4, f"2,000 scans took {elapsed:.2f} s beside a busy thread"
