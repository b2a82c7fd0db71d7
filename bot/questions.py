"""What the bot does with a question the NLU took for a policy question.

Three outcomes, decided the same way in the chat (bot/actions/policy.py) and in `make eval`
(bot/evaluate.py), so the held-out figures measure what citizens get:
- the knowledge base has an answer: it is given;
- it has none, but the words are about something the hotline handles (the category classifier
  files them somewhere with some confidence): the bot offers to file it;
- neither: the question is outside the hotline's work ("煲汤放什么料好" looks like a policy
  question to the NLU): the out-of-scope reply, never a made-up policy answer.
The category classifier is trained on what citizens bring to a city government, not on the bot's
intents, so it is a second, independent opinion on whether a question belongs here. It reads
Chinese only: an English question with no English article is offered for filing (the NLU's word
that it is a policy question is the only opinion there is), never refused on a Chinese model's say.
"""
from __future__ import annotations

from dataclasses import dataclass

from .classify import CategoryClassifier, CategoryGuess
from .knowledge import Answer, KnowledgeBase

ANSWER, OFFER, OUT_OF_SCOPE = "answer", "offer", "out_of_scope"


@dataclass
class QuestionOutcome:
    kind: str                          # answer | offer | out_of_scope
    answer: Answer | None = None
    category: CategoryGuess | None = None


async def decide(question: str, knowledge: KnowledgeBase, categories: CategoryClassifier,
                 locale: str = "zh") -> QuestionOutcome:
    answer = await knowledge.best(question, locale)
    if answer is not None:
        return QuestionOutcome(ANSWER, answer=answer)
    if locale != "zh":
        return QuestionOutcome(OFFER)
    # guess() gives no category below its own threshold (bot.classify.MIN_CONFIDENCE)
    guess = await categories.guess(question)
    if guess is not None:
        return QuestionOutcome(OFFER, category=guess)
    return QuestionOutcome(OUT_OF_SCOPE)
