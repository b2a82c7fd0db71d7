"""Held-out evaluation of the NLU: intent accuracy, macro F1 and entity F1 (`make eval`).

The held-out utterances (tests/bot/heldout.yml) are never used for training; they are written
as fresh citizen messages, so these figures measure how well the bot generalises.

Two readings of each message: the NLU's intent alone, and what the bot does with it, where a
question the NLU takes for a policy question but that neither the knowledge base answers nor the
category classifier files anywhere gets the out-of-scope reply (bot/questions.py). The second is
what a citizen meets; both are printed. The knowledge base and the categories are the sample
reference data (cases/reference), loaded into a temporary SQLite database.

English has its own held-out sets (tests/bot/heldout_en.yml, out_of_scope_heldout_en.yml), read by
the English NLU as an English turn is (bot/languages.py) and answered from the English articles; its
figures are under "english".
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

from .normalize import normalize_text

HELDOUT = Path(__file__).resolve().parent.parent / "tests" / "bot" / "heldout.yml"
OUT_OF_SCOPE = HELDOUT.parent / "out_of_scope_heldout.yml"
HELDOUT_EN = HELDOUT.parent / "heldout_en.yml"
OUT_OF_SCOPE_EN = HELDOUT.parent / "out_of_scope_heldout_en.yml"
# what an out-of-scope request must never start: intake, a status look-up, a policy answer, a poll
BUSINESS = {"complain", "report", "suggest", "seek_help", "praise", "mayor_mailbox", "ask_policy",
            "leave_consultation", "check_status", "take_poll"}


def load_heldout(path: Path = HELDOUT) -> list[tuple[str, str, set[tuple[str, str]]]]:
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(path))
    return [(m.get("text"), m.get("intent"), {(e["entity"], str(e["value"])) for e in m.get("entities") or []})
            for m in data.intent_examples]


class Outcomes:
    """What the bot does with a parsed message: its intent, or out_of_scope for a policy question
    that bot/questions.py refuses."""

    def __init__(self, knowledge=None, categories=None, locale: str = "zh"):
        self.knowledge, self.categories, self.locale = knowledge, categories, locale

    def in_language(self, locale: str) -> "Outcomes":
        return Outcomes(self.knowledge, self.categories, locale)

    async def __call__(self, text: str, intent: str | None) -> str | None:
        if intent != "ask_policy" or self.knowledge is None:
            return intent
        from .questions import OUT_OF_SCOPE, decide

        outcome = await decide(text, self.knowledge, self.categories, self.locale)
        return "out_of_scope" if outcome.kind == OUT_OF_SCOPE else intent


async def parse(agent, text: str, locale: str) -> dict:
    """What the bot reads in a text said in `locale`: through the processor's NLU step with the
    locale in the message's metadata, as a turn of the chat is."""
    from rasa.core.channels.channel import UserMessage

    return await agent.processor.parse_message(UserMessage(text, metadata={"locale": locale}))


async def evaluate(agent, examples, outcomes: Outcomes | None = None) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    outcomes = outcomes or Outcomes()
    truth, predicted, decided = [], [], []
    ent_tp = ent_fp = ent_fn = 0
    errors = []
    for text, intent, entities in examples:
        normalized = normalize_text(text)
        parsed = await parse(agent, normalized, outcomes.locale)
        guess = (parsed.get("intent") or {}).get("name")
        truth.append(intent)
        predicted.append(guess)
        decided.append(await outcomes(normalized, guess))
        if decided[-1] != intent:
            errors.append({"text": text, "expected": intent, "got": guess, "bot_did": decided[-1]})
        found = {(e["entity"], str(e["value"])) for e in parsed.get("entities", [])}
        ent_tp += len(found & entities)
        ent_fp += len(found - entities)
        ent_fn += len(entities - found)
    precision = ent_tp / (ent_tp + ent_fp) if ent_tp + ent_fp else 0.0
    recall = ent_tp / (ent_tp + ent_fn) if ent_tp + ent_fn else 0.0

    def in_scope_accuracy(guesses) -> float:
        pairs = [(t, p) for t, p in zip(truth, guesses) if t != "out_of_scope"]
        return round(sum(t == p for t, p in pairs) / len(pairs), 4)

    confusions = Counter((e["expected"], e["bot_did"]) for e in errors).most_common(8)
    return {
        "utterances": len(examples),
        "intent_accuracy": round(accuracy_score(truth, predicted), 4),
        "intent_macro_f1": round(f1_score(truth, predicted, average="macro", zero_division=0), 4),
        "in_scope_intent_accuracy": in_scope_accuracy(predicted),
        # after the out-of-scope check of policy questions: what the citizen gets
        "bot_accuracy": round(accuracy_score(truth, decided), 4),
        "in_scope_bot_accuracy": in_scope_accuracy(decided),
        # a held-out set without annotated entities (English's) has no entity figure, rather than 0.0
        "entity_f1": (round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0)
        if ent_tp + ent_fn else None,
        "entity_precision": round(precision, 4) if ent_tp + ent_fn else None,
        "entity_recall": round(recall, 4) if ent_tp + ent_fn else None,
        "top_confusions": [f"{a} -> {b} ({n})" for (a, b), n in confusions],
        "errors": errors,
    }


async def out_of_scope(agent, texts: list[str], outcomes: Outcomes | None = None) -> dict:
    """How many requests from domains the hotline does not serve end in a business intent (the
    NLU's) and in business (what the bot does: intake, a status look-up, a policy answer or offer)."""
    outcomes = outcomes or Outcomes()
    business, nlu_business = [], 0
    for text in texts:
        normalized = normalize_text(text)
        parsed = await parse(agent, normalized, outcomes.locale)
        intent = (parsed.get("intent") or {}).get("name")
        nlu_business += intent in BUSINESS
        did = await outcomes(normalized, intent)
        if did in BUSINESS:
            business.append({"text": text, "got": intent})
    return {"out_of_scope_requests": len(texts),
            "nlu_business_intent": nlu_business, "nlu_business_rate": round(nlu_business / len(texts), 4),
            "ended_in_business": len(business), "business_rate": round(len(business) / len(texts), 4),
            "business_errors": business}


@contextlib.asynccontextmanager
async def reference_outcomes(model_dir: Path):
    """Outcomes with the sample knowledge base and taxonomy in a temporary SQLite database and the
    category classifier of the bootstrap data."""
    from cases.db import Database
    from cases.knowledge import KnowledgeRepository
    from cases.migrate import upgrade
    from cases.reference_data import load_reference_data

    from .classify import CategoryClassifier
    from .knowledge import KnowledgeBase

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/eval.db"
        upgrade(url)
        db = Database(url)
        try:
            await load_reference_data(db)
            repo = KnowledgeRepository(db)
            categories = CategoryClassifier(repo, model_dir)
            await categories.load_model(with_cases=False)
            yield Outcomes(KnowledgeBase(repo), categories)
        finally:
            await db.dispose()


async def run(model_dir: Path) -> dict:
    from .engine import load_agent
    from .training import ensure_model

    agent = load_agent(ensure_model(model_dir))
    async with reference_outcomes(model_dir) as outcomes:
        report = await evaluate(agent, load_heldout(), outcomes)
        report["out_of_scope"] = await out_of_scope(agent, [t for t, _, _ in load_heldout(OUT_OF_SCOPE)], outcomes)
        english = outcomes.in_language("en")
        report["english"] = await evaluate(agent, load_heldout(HELDOUT_EN), english)
        report["english"]["out_of_scope"] = await out_of_scope(
            agent, [t for t, _, _ in load_heldout(OUT_OF_SCOPE_EN)], english)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="held-out NLU evaluation")
    parser.add_argument("--model-dir", default="models")
    parser.add_argument("--errors", action="store_true", help="list every misclassified utterance")
    args = parser.parse_args(argv)

    # jieba announces its dictionary on stdout when the first message is segmented: keep stdout
    # for the report alone, so it can be piped into a JSON tool
    with contextlib.redirect_stdout(sys.stderr):
        report = asyncio.run(run(Path(args.model_dir)))
    if not args.errors:
        for part in (report, report["english"]):
            part.pop("errors")
            part["out_of_scope"].pop("business_errors")
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
