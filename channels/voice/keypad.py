"""Keys to the bot's payloads, and the bot's buttons to words a caller hears.

The main menu is fixed (the brochure's numbering): 1 市长信箱, 2 投诉举报, 3 投诉查询, 4 政策咨询,
5 民意调查, 0 人工服务. Other button sets (yes/no, the survey) are numbered in order from 1; `*`
asks to hear the last prompt again. KeyEntry is a call's key stage: keys in, turns out."""
from __future__ import annotations

import asyncio
import time

MENU = {"1": "/mayor_mailbox", "2": "/complain", "3": "/check_status", "4": "/ask_policy",
        "5": "/take_poll", "0": "/request_human"}
MENU_WORDS = {"1": "市长信箱留言", "2": "投诉举报录音", "3": "投诉查询", "4": "政策咨询", "5": "民意调查",
              "0": "人工服务"}
REPEAT = "/repeat"
HUMAN = "/request_human"


def is_menu(buttons: list[dict]) -> bool:
    payloads = {b.get("payload") for b in buttons}
    return bool(payloads) and payloads <= set(MENU.values())


def key_map(buttons: list[dict]) -> dict[str, str]:
    """Which key picks which payload for the prompt that showed these buttons."""
    if not buttons:
        return {}
    if is_menu(buttons):
        return dict(MENU)
    keys = {}
    n = 0
    for b in buttons:
        if b.get("payload") == HUMAN:
            keys["0"] = HUMAN
        else:
            n += 1
            keys[str(n)] = b.get("payload", "")
    return keys


def spoken_choices(text: str, buttons: list[dict]) -> str:
    """The key list read after a prompt with buttons, unless the prompt already says its keys."""
    if not buttons or "请按" in text:
        return ""
    if is_menu(buttons):
        return "，".join(f"{MENU_WORDS[k]}请按{k}" for k in ("1", "2", "3", "4", "5", "0")) + "。"
    return "，".join(f"{title}请按{key}" for key, title in
                    ((k, next(b.get("title", "") for b in buttons if b.get("payload") == p))
                     for k, p in key_map(buttons).items())) + "。"


class KeyEntry:
    """A call's key stage: a key the current prompt maps (the menu, yes/no, the survey) is a turn at
    once; other keys build a number, which ends with # or `timeout_s` after its last key; * alone
    asks for the last prompt again. Each turn goes to `put(("keys", value, time.monotonic()))`."""

    def __init__(self, put, timeout_s: float):
        self.put = put
        self.timeout_s = timeout_s
        self.keys = ""
        self.key_map: dict[str, str] = {}
        self.timer: asyncio.TimerHandle | None = None

    def press(self, key: str) -> None:
        self.cancel_timer()
        if key == "#":
            self.submit()
        elif key == "*" and not self.keys:
            self.put(("keys", REPEAT, time.monotonic()))
        elif not self.keys and key in self.key_map:
            self.put(("keys", self.key_map[key], time.monotonic()))
        else:
            self.keys += key
            self.timer = asyncio.get_running_loop().call_later(self.timeout_s, self.submit)

    def submit(self) -> None:
        if self.keys:
            self.put(("keys", self.keys, time.monotonic()))
        self.keys = ""
        self.timer = None

    def clear(self) -> None:
        self.keys = ""
        self.cancel_timer()

    def cancel_timer(self) -> None:
        if self.timer:
            self.timer.cancel()
            self.timer = None
