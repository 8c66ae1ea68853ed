"""Hand-made samples for labeling tests: one line per sample instead of the record's full shape."""

from __future__ import annotations

from hrlaif.records import Message, Sample


def sample(pid, category, response, k, reference=None, choices=None, text="question?"):
    return Sample(prompt_id=pid, messages=[Message(role="user", content=text)], category=category,
                  reference=reference, choices=choices, response=response, sample_index=k)
