"""Custom actions of the hotline bot, run in-process by rasa_sdk's executor (see bot/engine.py)."""
from . import case_intake, conversation, language, poll, policy, status  # noqa: F401  (registers the actions)
