"""The judge exam holds its level: the refusal exam has as many distinct texts as it says."""

from __future__ import annotations

import pytest

from hrlaif.errors import HrlaifError
from hrlaif.judge.exam import build_exam

# -- the refusal exam: as many distinct texts as it says ------------------------------------

@pytest.mark.parametrize("per_answer", [6, 10, 20, 24])
def test_the_refusal_exam_holds_per_answer_distinct_texts_per_answer(per_answer: int) -> None:
    items = [i for i in build_exam(per_answer) if i.task == "refusal"]
    for answer in ("YES", "NO"):
        texts = [i.fields["response"] for i in items if i.answer == answer]
        assert len(texts) == len(set(texts)) == per_answer, (answer, len(set(texts)))
        test = {i.fields["response"] for i in items if i.answer == answer and i.split == "test"}
        assert len(test) == per_answer // 2
    harm = [i for i in build_exam(per_answer) if i.task == "harm"]
    for answer in ("A", "B"):
        texts = [i.fields["response"] for i in harm if i.answer == answer]
        assert len(texts) == len(set(texts)), answer


def test_an_exam_larger_than_the_bundled_banks_says_so() -> None:
    with pytest.raises(HrlaifError, match="24 distinct refusal texts, 25 were asked"):
        build_exam(25)
