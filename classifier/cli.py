"""`hotline classifier train|eval`: the category classifier's own commands.

train  builds the model the gateway loads (skipped when its inputs are unchanged), from the
       bootstrap messages and the taxonomy, plus the case store's staff-chosen categories
       unless --no-cases
eval   prints the held-out figures as JSON (trains a separate model on 80% of the messages)
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("classifier", help="the learned category classifier (train, eval)")
    csub = p.add_subparsers(dest="classifier_command", required=True)
    train = csub.add_parser("train", help="train the classifier (only when its inputs changed)")
    train.add_argument("--force", action="store_true", help="train even if the model is current")
    train.add_argument("--no-cases", action="store_true", help="leave out the case store's examples")
    train.set_defaults(func=_train)
    ev = csub.add_parser("eval", help="held-out figures (accuracy, macro-F1, second level, latency, size)")
    ev.add_argument("--with-cases", action="store_true", help="add the case store's examples to the training part")
    ev.set_defaults(func=_eval)


async def _case_examples(settings) -> list:
    from cases.db import Database
    from cases.migrate import upgrade

    from . import dataset

    upgrade(settings.database_url)
    db = Database(settings.database_url)
    try:
        return await dataset.case_examples(db, dataset.load_taxonomy())
    finally:
        await db.dispose()


def train_classifier(settings, *, cases: bool = True, force: bool = False):
    """The model file for the current inputs (`hotline train` and `make run` call this too)."""
    from .build import ensure_model

    extra = asyncio.run(_case_examples(settings)) if cases else []
    print(f"category classifier: {len(extra)} examples from the case store", file=sys.stderr)
    return ensure_model(settings.bot_model_dir, extra, force=force)


def _train(settings, args) -> int:
    print(train_classifier(settings, cases=not args.no_cases, force=args.force))
    return 0


def _eval(settings, args) -> int:
    from .evaluate import evaluate

    extra = asyncio.run(_case_examples(settings)) if args.with_cases else []
    with contextlib.redirect_stdout(sys.stderr):  # jieba talks on stdout: keep it for the JSON
        report = evaluate(extra)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0
