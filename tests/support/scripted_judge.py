"""One scripted judge for tests: answers by a function of the question, records what it was asked.

    judge = ScriptedJudge(lambda q: "A" if len(q.fields["response_a"]) > len(q.fields["response_b"]) else "B")
    judge = ScriptedJudge("NO", name="counting")              # the same answer to every question
    judge = ScriptedJudge(write=lambda chat: "a rewrite")     # a judge that writes too

`answer(question)` may return
- a choice (an option name such as "A" or "YES"), or None for an unscorable verdict;
- a (choice, probs) tuple, probs a dict of option probabilities or None;
- a whole Verdict, returned as it is (for a test that wants full control of what comes back).
A choice or tuple becomes `Verdict(task, choice, probs, judge=name, reason=...)` with `reason`
when scorable and `unscorable_reason` when not. `on_verdict` is called for every verdict, as
the real backends do.

`write(chat)` gives the text written for one chat (None: the write failed); without it the judge
cannot write, like the base class (HrlaifError naming the judge).

What happened: `asked` (every question, in order), `writes` (every chat it was asked to write),
`calls` (how many times ask() was called), `tasks()` (the task of every question asked) and
`stats.calls` (one per question answered and per chat written, as a backend counts its calls).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hrlaif.judge.base import Judge, OnVerdict, Question
from hrlaif.records import Verdict

Answer = str | None | tuple[str | None, dict[str, float] | None] | Verdict


class ScriptedJudge(Judge):
    def __init__(self, answer: Callable[[Question], Answer] | str | None = "A", *, name: str = "scripted",
                 write: Callable[[list[dict]], str | None] | None = None, reason: str = "",
                 unscorable_reason: str = "scripted unscorable") -> None:
        super().__init__()
        self.name = name
        self.answer = answer if callable(answer) else (lambda question, fixed=answer: fixed)
        self.write_rule = write
        self.reason, self.unscorable_reason = reason, unscorable_reason
        self.asked: list[Question] = []
        self.writes: list[list[dict]] = []
        self.calls = 0

    def verdict(self, question: Question) -> Verdict:
        """The verdict for one question (not recorded: `ask` records)."""
        answer: Any = self.answer(question)
        if isinstance(answer, Verdict):
            return answer
        choice, probs = answer if isinstance(answer, tuple) else (answer, None)
        return Verdict(task=question.task, choice=choice, probs=probs, judge=self.name,
                       reason=self.reason if choice is not None else self.unscorable_reason)

    def ask(self, questions: list[Question], desc: str = "judging", on_verdict: OnVerdict | None = None) -> list[Verdict]:
        self.calls += 1
        self.asked.extend(questions)
        out = []
        for i, question in enumerate(questions):
            verdict = self.verdict(question)
            self.stats.calls += 1
            if on_verdict is not None:
                on_verdict(i, verdict)
            out.append(verdict)
        return out

    def write(self, chats: list[list[dict]], *, max_tokens: int, desc: str = "writing") -> list[str | None]:
        if self.write_rule is None:
            return super().write(chats, max_tokens=max_tokens, desc=desc)
        self.writes.extend(chats)
        self.stats.calls += len(chats)
        return [self.write_rule(chat) for chat in chats]

    def tasks(self) -> list[str]:
        """The task of every question asked, in order."""
        return [q.task for q in self.asked]
