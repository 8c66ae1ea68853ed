"""A transformers causal LM as the judge: option scores from next-token log-probabilities.

Reading the probability of each option token right after the question gives a soft label
without sampling (as in Lee et al., RLAIF vs RLHF), and never produces an unparseable answer.
Writing (red-team attacks, rewrites) is greedy generation with the same model, so a re-run
writes the same texts.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from hrlaif.judge.base import Judge, OnVerdict, Question
from hrlaif.judge.templates import Templates, render, shown_options
from hrlaif.models import chat_prompt, generate, load_causal_lm, load_tokenizer
from hrlaif.records import Verdict


class LocalJudge(Judge):
    def __init__(self, model: str, batch_size: int = 8, max_length: int = 2048, templates: Templates | None = None) -> None:
        super().__init__(templates)
        self.name = f"local:{model}"
        self.tokenizer = load_tokenizer(model, padding_side="left")
        self.model = load_causal_lm(model).eval()
        self.batch_size = batch_size
        self.max_length = max_length
        self._option_ids: dict[tuple[str, ...], list[list[int]]] = {}

    def _ids_for(self, options: tuple[str, ...]) -> list[list[int]]:
        """First token ids of each option, with and without a leading space."""
        if options not in self._option_ids:
            ids = []
            for option in options:
                variants = {self.tokenizer.encode(option, add_special_tokens=False)[0]}
                spaced = self.tokenizer.encode(" " + option, add_special_tokens=False)
                if len(spaced) == 1:  # a space token alone would be shared by every option
                    variants.add(spaced[0])
                ids.append(sorted(variants))
            flat = [i for group in ids for i in group]
            if len(flat) != len(set(flat)):
                raise ValueError(f"options {options} share a first token in this tokenizer; cannot score them apart")
            self._option_ids[options] = ids
        return self._option_ids[options]

    @torch.no_grad()
    def ask(self, questions: list[Question], desc: str = "judging", on_verdict: OnVerdict | None = None) -> list[Verdict]:
        verdicts: list[Verdict] = []
        for start in tqdm(range(0, len(questions), self.batch_size), desc=desc, unit="batch", disable=len(questions) <= self.batch_size or None):  # None: off when not a terminal
            chunk = questions[start : start + self.batch_size]
            texts = [chat_prompt(self.tokenizer, render(q, self.templates)) for q in chunk]
            self.tokenizer.truncation_side = "left"
            batch = self.tokenizer(
                texts, return_tensors="pt", padding=True, truncation=True, max_length=self.max_length, add_special_tokens=False
            )
            logits = self.model(**batch.to(self.model.device)).logits[:, -1, :].float()
            logprobs = torch.log_softmax(logits, dim=-1)
            tokens = batch["attention_mask"].sum(dim=1).tolist()
            for row, question in enumerate(chunk):
                template = self.templates[question.task]
                scores = torch.stack(
                    [torch.logsumexp(logprobs[row, ids], dim=0) for ids in self._ids_for(shown_options(question, self.templates))]
                )
                probs = torch.softmax(scores, dim=0).tolist()
                best = max(range(len(probs)), key=probs.__getitem__)
                verdicts.append(
                    Verdict(
                        task=question.task,
                        choice=template.options[best],
                        probs=dict(zip(template.options, probs)),
                        judge=self.name,
                        template_version=template.version,
                        prompt_tokens=int(tokens[row]),
                    )
                )
                self.stats.calls += 1
                self.stats.prompt_tokens += int(tokens[row])
                if on_verdict is not None:
                    on_verdict(start + row, verdicts[-1])
        return verdicts

    def write(self, chats: list[list[dict]], *, max_tokens: int, desc: str = "writing") -> list[str | None]:
        if not chats:
            return []
        texts = generate(
            self.model, self.tokenizer, chats, max_new_tokens=max_tokens, temperature=0.0,
            batch_size=self.batch_size, max_length=self.max_length, desc=desc,
        )
        out: list[str | None] = []
        for text in texts:
            self.stats.calls += 1
            if not text.strip():
                self.stats.failed_writes += 1
            out.append(text.strip() or None)
        return out
