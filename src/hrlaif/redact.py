"""Scrubbing an API key out of text a server sent back, before anything is stored or shown.

One function for both OpenAI-compatible clients (the judge, hrlaif.judge.openai_backend, and the
served policy, hrlaif.serving). A server may echo the Authorization header in a completion or an
error body, whole or in part, so not only the key is replaced but every run of
`FRAGMENT` or more of its characters: a message cut to its first N characters can end inside the
key, and 8 characters of a random key are already a usable hint. Scrub first, then cut.
"""

from __future__ import annotations

FRAGMENT = 8
"""The shortest run of the key's characters that is redacted (shorter runs occur by chance in text)."""

REDACTED = "<redacted>"

NO_KEY = "none"
"""The key sent to local servers when none is configured (hrlaif.endpoints.read_api_key)."""


def scrub(text: str, key: str | None) -> str:
    """`text` with the key and every run of FRAGMENT or more of its characters replaced by
    "<redacted>". A key shorter than FRAGMENT (4 or more characters) is replaced only whole;
    no key, or the placeholder "none", leaves the text as it is."""
    if not text or not key or key == NO_KEY or len(key) < 4:
        return text
    text = text.replace(key, REDACTED)
    if len(key) <= FRAGMENT:
        return text
    grams = {key[i : i + FRAGMENT] for i in range(len(key) - FRAGMENT + 1)}
    covered = bytearray(len(text))  # 1 where a character lies inside some FRAGMENT-long piece of the key
    found = False
    for i in range(len(text) - FRAGMENT + 1):
        if text[i : i + FRAGMENT] in grams:
            covered[i : i + FRAGMENT] = b"\x01" * FRAGMENT
            found = True
    if not found:
        return text
    out, i = [], 0
    while i < len(text):
        if covered[i]:
            while i < len(text) and covered[i]:
                i += 1
            out.append(REDACTED)
        else:
            out.append(text[i])
            i += 1
    return "".join(out)
