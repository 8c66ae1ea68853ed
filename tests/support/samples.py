"""Hand-made records for tests: samples in one line instead of the record's full shape, and a few pairs."""

from __future__ import annotations

from hrlaif.records import Message, Pair, Sample


def sample(pid, category, response, k, reference=None, choices=None, text="question?"):
    return Sample(prompt_id=pid, messages=[Message(role="user", content=text)], category=category,
                  reference=reference, choices=choices, response=response, sample_index=k)


def pairs() -> list[Pair]:
    """Six open-ended preference pairs, a careful answer over "no": enough for a tiny RM to train on."""
    return [
        Pair(prompt_id=f"p{i}", category="open_ended", prompt=[{"role": "user", "content": f"Question {i}?"}],
             chosen=[{"role": "assistant", "content": f"A careful answer {i}."}],
             rejected=[{"role": "assistant", "content": "no"}], provenance={"mode": "rlaif"})
        for i in range(6)
    ]
