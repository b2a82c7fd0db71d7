"""Held-out evaluation of the NLU: intent accuracy, macro F1 and entity F1 (`make eval`).

The held-out utterances (tests/bot/heldout.yml) are never used for training; they are written
as fresh citizen messages, so these figures measure how well the bot generalises.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections import Counter
from pathlib import Path

from .normalize import normalize_text

HELDOUT = Path(__file__).resolve().parent.parent / "tests" / "bot" / "heldout.yml"
OUT_OF_SCOPE = HELDOUT.parent / "out_of_scope_heldout.yml"
# what an out-of-scope request must never start: intake, a status look-up, a policy answer, a poll
BUSINESS = {"complain", "report", "suggest", "seek_help", "praise", "mayor_mailbox", "ask_policy",
            "leave_consultation", "check_status", "take_poll"}


def load_heldout(path: Path = HELDOUT) -> list[tuple[str, str, set[tuple[str, str]]]]:
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(path))
    return [(m.get("text"), m.get("intent"), {(e["entity"], str(e["value"])) for e in m.get("entities") or []})
            for m in data.intent_examples]


async def evaluate(agent, examples) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    truth, predicted = [], []
    ent_tp = ent_fp = ent_fn = 0
    errors = []
    for text, intent, entities in examples:
        parsed = await agent.parse_message(normalize_text(text))
        guess = (parsed.get("intent") or {}).get("name")
        truth.append(intent)
        predicted.append(guess)
        if guess != intent:
            errors.append({"text": text, "expected": intent, "got": guess})
        found = {(e["entity"], str(e["value"])) for e in parsed.get("entities", [])}
        ent_tp += len(found & entities)
        ent_fp += len(found - entities)
        ent_fn += len(entities - found)
    precision = ent_tp / (ent_tp + ent_fp) if ent_tp + ent_fp else 0.0
    recall = ent_tp / (ent_tp + ent_fn) if ent_tp + ent_fn else 0.0
    in_scope = [(t, p) for t, p in zip(truth, predicted) if t != "out_of_scope"]
    confusions = Counter((e["expected"], e["got"]) for e in errors).most_common(8)
    return {
        "utterances": len(examples),
        "intent_accuracy": round(accuracy_score(truth, predicted), 4),
        "intent_macro_f1": round(f1_score(truth, predicted, average="macro", zero_division=0), 4),
        "in_scope_intent_accuracy": round(sum(t == p for t, p in in_scope) / len(in_scope), 4),
        "entity_f1": round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0,
        "entity_precision": round(precision, 4), "entity_recall": round(recall, 4),
        "top_confusions": [f"{a} -> {b} ({n})" for (a, b), n in confusions],
        "errors": errors,
    }


async def out_of_scope(agent, texts: list[str]) -> dict:
    """How many requests from domains the hotline does not serve end in a business intent."""
    business = []
    for text in texts:
        parsed = await agent.parse_message(normalize_text(text))
        intent = (parsed.get("intent") or {}).get("name")
        if intent in BUSINESS:
            business.append({"text": text, "got": intent})
    return {"out_of_scope_requests": len(texts), "ended_in_business_intent": len(business),
            "business_rate": round(len(business) / len(texts), 4), "business_errors": business}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="held-out NLU evaluation")
    parser.add_argument("--model-dir", default="models")
    parser.add_argument("--errors", action="store_true", help="list every misclassified utterance")
    args = parser.parse_args(argv)
    from .engine import load_agent
    from .training import ensure_model

    # jieba announces its dictionary on stdout when the first message is segmented: keep stdout
    # for the report alone, so it can be piped into a JSON tool
    with contextlib.redirect_stdout(sys.stderr):
        agent = load_agent(ensure_model(Path(args.model_dir)))
        report = asyncio.run(evaluate(agent, load_heldout()))
        report["out_of_scope"] = asyncio.run(out_of_scope(agent, [t for t, _, _ in load_heldout(OUT_OF_SCOPE)]))
    if not args.errors:
        report.pop("errors")
        report["out_of_scope"].pop("business_errors")
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
