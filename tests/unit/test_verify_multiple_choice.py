"""Multiple-choice verifier: how picks are stated, what is not a pick, and unknown paths."""

from __future__ import annotations

import time

import pytest

from hrlaif.verify.multiple_choice import check_multiple_choice, extract_choice, normalise_reference

CHOICES = ["Paris", "London", "Berlin", "Madrid"]


@pytest.mark.parametrize(
    ("text", "letter", "method"),
    [
        ("Answer: (B)", "B", "answer_is"),
        ("ANSWER: B", "B", "answer_is"),
        ("Final answer: D", "D", "answer_is"),
        ("My answer is c.", "C", "answer_is"),
        ("The answer is (b)", "B", "answer_is"),
        ("the answer is: **C**", "C", "answer_is"),
        ("The answer is **(D) Madrid**.", "D", "answer_is"),
        ("Therefore the answer is option C.", "C", "answer_is"),
        ("The answer is A because Paris is the capital.", "A", "answer_is"),
        ("the correct option is C", "C", "correct_option"),
        ("The correct choice: (D)", "D", "correct_option"),
        ("I choose D", "D", "i_choose"),
        ("I would go with option B.", "B", "i_choose"),
        ("I'd choose (B).", "B", "i_choose"),
        ("Option B is correct.", "B", "option_is_correct"),
        ("A is incorrect. B is incorrect. C is correct.", "C", "option_is_correct"),
        ("A is not correct, D is the right answer.", "D", "option_is_correct"),
        ("The correct answer is **B. London**", "B", "answer_is"),
        ("**Answer: C**", "C", "answer_is"),
        ("Among the options, Berlin (C) is the capital of Germany.", "C", "letter_paren"),
        ("The final answer is $\\boxed{B}$.", "B", "boxed"),
        ("B.", "B", "letter_only"),
        ("(C)", "C", "letter_only"),
        ("**B**", "B", "letter_only"),
        ("d", "D", "letter_only"),
        ("B. London is the capital of the UK.", "B", "letter_dot"),
        ("C) Berlin", "C", "letter_dot"),
        ("B\nBecause (A) is wrong", "B", "letter_dot"),  # the opening line is the pick
        ("It's (C).", "C", "letter_paren"),
        ("(A) is wrong and (B) is wrong, so **C**", "C", "bold"),
        # the option's text without its letter
        ("The capital is Berlin.", "C", "option_text"),
        ("London", "B", "option_text"),
        ("The answer is Paris.", "A", "option_text"),
        ("Paris is big and so is London, but the answer is London.", "B", "option_text"),
        # a change of mind: the last statement counts
        ("A... no wait, actually the answer is C", "C", "answer_is"),
        ("A is correct, I think... no wait, the answer is B", "B", "answer_is"),
        ("The answer is A. Wait, actually it's C.", "C", "revision"),
        ("A. No wait, B.", "B", "revision"),
        ("The answer is B. Hmm, on second thought, the answer is D.", "D", "answer_is"),
    ],
)
def test_extract_choice(text, letter, method):
    assert extract_choice(text, CHOICES) == (letter, method)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "A dog is a mammal, so it is warm-blooded.",  # the article is not option A
        "The answer is a dog.",
        "Answer: A dog",
        "I think it's Paris, not London.",  # two option texts, no marker
        "First, (A) Paris is in France. (B) London is in the UK.",  # options listed, none picked
        "Answer: E",  # beyond the four choices
        "Answer: (E)",
        "The answer is B. No wait, the answer is F.",  # the final statement is invalid
        "E",
        "I choose I",  # the pronoun, and also a letter beyond the choices
        "I have no idea.",
        "Is A correct? No.",
        "Each answer is a city.",
    ],
)
def test_extract_nothing(text):
    assert extract_choice(text, CHOICES) is None


def test_letters_beyond_choices_are_invalid():
    assert extract_choice("Answer: C", ["yes", "no"]) is None
    assert extract_choice("Answer: B", ["yes", "no"]) == ("B", "answer_is")


def test_option_text_inside_a_longer_option_does_not_count():
    choices = ["Paris", "Paris, Texas", "Rome"]
    assert extract_choice("It is Paris, Texas.", choices) == ("B", "option_text")
    assert extract_choice("It is Rome.", choices) == ("C", "option_text")


def test_non_ascii_option_texts():
    choices = ["Zürich", "Genève", "北京"]
    assert extract_choice("Die Antwort: Zürich.", choices) == ("A", "option_text")
    assert extract_choice("首都是北京", choices) is None  # no word boundary in the sentence
    assert extract_choice("北京", choices) == ("C", "option_text")


def test_choices_with_their_own_letter_prefix():
    choices = ["A. Paris", "B. London", "(C) Berlin"]
    assert extract_choice("The capital is Berlin.", choices) == ("C", "option_text")
    assert check_multiple_choice("Berlin", "Berlin", choices).correct is True


def test_numeric_options_need_a_single_mention():
    choices = ["4", "11", "65", "90"]
    assert extract_choice("90", choices) == ("D", "option_text")
    assert extract_choice("Comparing 4, 11, 65 and 90, the largest is 90.", choices) is None
    assert extract_choice("Comparing the numbers, the answer is D.", choices) == ("D", "answer_is")


def test_check_multiple_choice_verdicts():
    right = check_multiple_choice("Answer: (B)", "B", CHOICES)
    assert (right.correct, right.extracted, right.method) == (True, "B", "answer_is")
    wrong = check_multiple_choice("I choose D", "B", CHOICES)
    assert (wrong.correct, wrong.extracted) == (False, "D")
    assert "differs" in wrong.detail


@pytest.mark.parametrize("response", ["A dog is a mammal.", "Answer: F", "", "I have no idea."])
def test_unknown_is_never_wrong(response):
    result = check_multiple_choice(response, "A", CHOICES)
    assert result.correct is None
    assert result.extracted is None


@pytest.mark.parametrize(("reference", "letter"), [("B", "B"), ("(b)", "B"), ("c.", "C"), ("Madrid", "D"), (" paris ", "A")])
def test_reference_forms(reference, letter):
    assert normalise_reference(reference, CHOICES) == letter


@pytest.mark.parametrize("reference", ["E", "(F)", "Rome", ""])
def test_invalid_reference_raises(reference):
    with pytest.raises(ValueError):
        check_multiple_choice("Answer: A", reference, CHOICES)


def test_hostile_responses_are_bounded():
    cases = [
        "a" * 1_000_000 + " Answer: B",
        "answer is " * 100_000,
        "(A) " * 200_000,
        "**" * 300_000,
        "I " * 400_000,
    ]
    expected = [("B", "answer_is"), None, ("A", "letter_dot"), None, None]
    for response, want in zip(cases, expected):
        start = time.monotonic()
        assert extract_choice(response, CHOICES) == want, response[:20]
        # the slowest case takes ~0.6 s idle; backtracking on 1 MB would take hours
        assert time.monotonic() - start < 10, response[:20]


@pytest.mark.parametrize("choices", [["Paris", "Paris", "Rome"], ["A. Paris", "B. Paris", "C. Rome"]])
def test_an_option_text_shared_by_several_letters_is_unknown(choices):
    """"The answer is Paris." names A and B alike: it was read as A, so B was called wrong (issue 27)."""
    for reference in ("A", "B"):
        check = check_multiple_choice("The answer is Paris.", reference, choices)
        assert check.correct is None and check.extracted is None, check
    assert check_multiple_choice("The answer is Rome.", "C", choices).correct is True
    assert check_multiple_choice("The answer is (B).", "B", choices).correct is True  # a letter still decides
    with pytest.raises(ValueError, match="options A and B"):  # nor may a reference name one of them
        normalise_reference("Paris", choices)
