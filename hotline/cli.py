"""The `hotline` command: run the gateway, migrate the database, load demo data, manage users."""
from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sqlite3
import sys

from .logs import setup_logging
from .settings import SettingsError, load_settings

DEMO_USERS = [
    # username, password, role, display name, department, agent number
    ("admin", "hotline-admin", "admin", "系统管理员", None, None),
    ("agent1024", "hotline-agent", "agent", "话务员1024", None, "1024"),
    ("supervisor", "hotline-super", "supervisor", "值班长", None, "2001"),
    ("zjj", "hotline-dept", "department", "住建局经办人", "zjj", None),
]


def _cmd_run(settings, args) -> int:
    """Serve; a start that cannot go on ends with one line saying why (the traceback goes to the
    debug log) and exit status 1."""
    from cases.migrate import upgrade
    from .server import run, serve
    from .startup import StartupError, check_database, check_listeners, fail, finish, one_line
    try:
        if args.workers > 1 or args.workers < 1:
            from .workers import check_shared, supervise
            check_shared(settings, args.workers)
            check_database(settings.database_url)
            if not args.no_migrate:
                upgrade(settings.database_url)  # once, before any worker serves
            return finish(supervise(settings, args.workers, args.config))
        check_database(settings.database_url)
        check_listeners(settings)
        if not args.no_migrate:
            upgrade(settings.database_url)
        run(serve(settings), settings.event_loop)
    except StartupError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except Exception as exc:
        logging.getLogger("hotline").debug("start failed", exc_info=True)
        return fail(one_line(exc))
    return finish(0)


def _cmd_db_upgrade(settings, args) -> int:
    from cases.migrate import upgrade
    upgrade(settings.database_url, args.revision)
    print(f"database at revision {args.revision}")
    return 0


async def _demo_data(settings, with_users: bool) -> dict:
    from cases.intake import InvalidInput
    from cases.reference_data import load_reference_data
    from .services import Services
    services = await Services.create(settings)
    try:
        counts = await load_reference_data(services.db)
        if with_users:
            created = 0
            for username, password, role, name, dept, agent_no in DEMO_USERS:
                try:
                    await services.accounts.create_user(username, password, role, display_name=name,
                                                        department_code=dept, agent_no=agent_no)
                    created += 1
                except InvalidInput:
                    pass  # already there
            counts["users_created"] = created
        return counts
    finally:
        await services.close()


def _cmd_demo_data(settings, args) -> int:
    counts = asyncio.run(_demo_data(settings, not args.no_users))
    if args.history:  # sample cases for the reports, written once (cases/reports/generate.py)
        from cases.reports.generate import demo_history
        counts["history_cases"] = demo_history(settings.database_url, args.history, tz=settings.timezone)
    print("loaded: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


async def _add_user(settings, args, password) -> None:
    from .services import Services
    services = await Services.create(settings)
    try:
        await services.accounts.create_user(args.username, password, args.role, display_name=args.name or "",
                                            department_code=args.department, agent_no=args.agent_no)
    finally:
        await services.close()


def _cmd_user_add(settings, args) -> int:
    from cases.intake import InvalidInput
    password = args.password or getpass.getpass("password: ")
    try:
        asyncio.run(_add_user(settings, args, password))
    except InvalidInput as exc:
        for field, (code, params) in exc.errors.items():
            print(f"error: {field}: {code} {params or ''}", file=sys.stderr)
        return 2
    print(f"user {args.username} ({args.role}) created")
    return 0


def _cmd_train(settings, args) -> int:
    from bot.training import english_model_path, ensure_model
    from classifier.cli import train_classifier
    print(ensure_model(settings.bot_model_dir, force=args.force))
    print(english_model_path(settings.bot_model_dir))  # trained with it: the English NLU
    print(train_classifier(settings))
    return 0


async def _parse(settings, texts) -> None:
    import json

    from sqlalchemy import func, select

    from bot.classify import INTENT_KINDS
    from bot.engine import Engine
    from bot.training import ensure_model
    from cases.models import Category
    from .services import Services
    services = await Services.create(settings)
    try:
        engine = await Engine.load(ensure_model(settings.bot_model_dir), services.store,
                                   tracker_store_url="memory://", timezone=settings.timezone)
        async with services.db.read() as s:
            if not (await s.execute(select(func.count()).select_from(Category))).scalar():
                print("note: no category taxonomy in this database yet (`hotline demo-data` loads the sample one), "
                      "so no category is guessed", file=sys.stderr)
        for text in texts:
            parsed = await engine.parse(text)
            intent = parsed.get("intent") or {}
            kind = INTENT_KINDS.get(intent.get("name"))
            guess = await engine.runtime.categories.guess(parsed.get("text", text)) if kind else None
            print(json.dumps({"text": text, "intent": intent.get("name"),
                              "confidence": round(float(intent.get("confidence") or 0), 4),
                              "entities": [{"entity": e["entity"], "value": e["value"]} for e in parsed["entities"]],
                              "kind": kind, "category": guess.code if guess else None,
                              "category_name": guess.name if guess else None,
                              "category_confidence": guess.confidence if guess else None}, ensure_ascii=False),
                  flush=True)
    finally:
        await services.close()


def _cmd_parse(settings, args) -> int:
    from cases.migrate import upgrade
    texts = args.texts or [line.strip() for line in sys.stdin if line.strip()]
    upgrade(settings.database_url)  # the category guess reads the taxonomy: a fresh checkout has no tables yet
    asyncio.run(_parse(settings, texts))
    return 0


def _cmd_models_fetch(settings, args) -> int:
    from pathlib import Path

    from speech.fetch import FetchError, fetch_all
    try:
        got = fetch_all(Path(args.dir))
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Vosk model: {got['vosk']}\nPiper voice: {got['piper'][0]}\n"
          f"voice uses them from {args.dir} (or set vosk_model / piper_voice)")
    return 0


def _cmd_backup(settings, args) -> int:
    from pathlib import Path

    from .backup import BackupError, backup
    try:
        path = backup(settings.database_url, Path(args.file))
    except (BackupError, OSError, sqlite3.Error) as exc:
        print(f"error: backup: {exc}", file=sys.stderr)
        return 1
    print(f"database copied to {path} (the attachments are files under {settings.data_dir / 'attachments'})")
    return 0


def _cmd_restore(settings, args) -> int:
    from pathlib import Path

    from .backup import BackupError, restore
    if not args.yes:
        print("error: restore replaces every case in the database: stop the gateway, then repeat with --yes",
              file=sys.stderr)
        return 2
    try:
        restore(settings.database_url, Path(args.file))
    except (BackupError, OSError, sqlite3.Error) as exc:
        print(f"error: restore: {exc}", file=sys.stderr)
        return 1
    print(f"database restored from {args.file}")
    return 0


def _summaries() -> dict[str, str]:
    """The report summaries kept incrementally, by watermark name."""
    from cases.reports import agent_daily, conversations, daily, facts
    return {facts.NAME: "case flow", daily.NAME: "cases per day", conversations.NAME: "conversations per day",
            agent_daily.NAME: "agents' work per day"}


def _cmd_reports_reset(settings, args) -> int:
    """After a bulk import (rows written around the gateway), the summaries' watermarks are past
    rows they never saw: forgetting them makes the next refresh build those summaries whole."""
    from sqlalchemy import delete

    from cases.db import make_sync_engine
    from cases.models import ReportWatermark
    known = _summaries()
    names = args.only or list(known)
    unknown = [n for n in names if n not in known]
    if unknown:
        print(f"error: unknown summary {', '.join(unknown)} (one of: {', '.join(known)})", file=sys.stderr)
        return 2
    engine = make_sync_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(delete(ReportWatermark).where(ReportWatermark.name.in_(names)))
            if args.rebuild:
                from cases.reports import refresh_summaries
                counts = refresh_summaries(conn, tz=settings.timezone, workday_end=settings.workday_end)
                print("rebuilt: cases {}, days {}, conversation days {}, agent days {}".format(*counts))
    finally:
        engine.dispose()
    print("reset: " + ", ".join(f"{n} ({known[n]})" for n in names)
          + ("" if args.rebuild else "; the gateway rebuilds them at its next refresh"))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hotline", description="12345 hotline gateway")
    p.add_argument("--config", help="settings file (TOML); default $HOTLINE_CONFIG or ./hotline.toml")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="serve the gateway (migrates the database first)")
    run.add_argument("--no-migrate", action="store_true", help="do not apply migrations on start")
    run.add_argument("--workers", type=int, default=1, metavar="N",
                     help="N gateway processes sharing the ports (SO_REUSEPORT); N > 1 needs PostgreSQL and "
                          "Redis (README, Scale-out)")
    run.set_defaults(func=_cmd_run)

    db = sub.add_parser("db", help="database maintenance")
    dbsub = db.add_subparsers(dest="db_command", required=True)
    up = dbsub.add_parser("upgrade", help="apply migrations")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=_cmd_db_upgrade)

    demo = sub.add_parser("demo-data", help="load the sample reference data and demo users (idempotent)")
    demo.add_argument("--no-users", action="store_true", help="reference data only")
    demo.add_argument("--history", type=int, default=3000, metavar="N",
                      help="sample cases over the last 400 days for the reports, once (0: none)")
    demo.set_defaults(func=_cmd_demo_data)

    train = sub.add_parser("train", help="train the bot models (dialogue, English NLU) if their data changed")
    train.add_argument("--force", action="store_true", help="train even if the model is current")
    train.set_defaults(func=_cmd_train)

    parse = sub.add_parser("parse", help="print what the bot understands of texts, one JSON line each")
    parse.add_argument("texts", nargs="*", help="texts to parse; default: one per line on stdin")
    parse.set_defaults(func=_cmd_parse)

    models = sub.add_parser("models", help="speech models for the phone line")
    msub = models.add_subparsers(dest="models_command", required=True)
    fetch = msub.add_parser("fetch", help="download the Chinese Vosk model and Piper voice (with checksums)")
    fetch.add_argument("--dir", default="models/speech", help="where voice looks for them (default %(default)s)")
    fetch.set_defaults(func=_cmd_models_fetch)

    from classifier.cli import add_parser as add_classifier_parser
    add_classifier_parser(sub)

    back = sub.add_parser("backup", help="copy the database while the gateway runs (SQLite backup API / pg_dump)")
    back.add_argument("file", help="the new backup file")
    back.set_defaults(func=_cmd_backup)
    rest = sub.add_parser("restore", help="replace the database with a backup (the gateway stopped)")
    rest.add_argument("file", help="a file made by `hotline backup`")
    rest.add_argument("--yes", action="store_true", help="yes, replace what the database holds now")
    rest.set_defaults(func=_cmd_restore)

    reports = sub.add_parser("reports", help="report summaries")
    rsub = reports.add_subparsers(dest="reports_command", required=True)
    reset = rsub.add_parser("reset-watermarks", help="after a bulk import: build the report summaries whole again")
    reset.add_argument("--only", action="append", metavar="NAME", help="one summary (repeatable); default all")
    reset.add_argument("--rebuild", action="store_true", help="rebuild now instead of at the gateway's next refresh")
    reset.set_defaults(func=_cmd_reports_reset)

    user = sub.add_parser("user", help="staff accounts")
    usub = user.add_subparsers(dest="user_command", required=True)
    add = usub.add_parser("add", help="create a user")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=["agent", "supervisor", "department", "admin"])
    add.add_argument("--password", help="default: asked for on the terminal")
    add.add_argument("--name")
    add.add_argument("--department", help="department code (required for role department)")
    add.add_argument("--agent-no")
    add.set_defaults(func=_cmd_user_add)
    return p


def main(argv: list[str] | None = None) -> int:
    # TensorFlow's C++ side writes its notices straight to stderr, past logging: keep only its errors
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level, settings.log_json, debug_file=settings.data_dir / "logs" / "debug.log")
    return args.func(settings, args)


if __name__ == "__main__":
    sys.exit(main())
