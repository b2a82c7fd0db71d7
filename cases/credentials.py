"""Case numbers, lookup passwords and the password hashing behind them.

A case number is 13 digits a caller can key on a phone pad: the local date (YYMMDD), six random
digits (so numbers reveal nothing beyond the day), and a Luhn check digit that catches a mistyped
or misheard digit before any database work. The lookup password is six random digits, shown once
and stored only as an argon2id hash.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

NUMBER_LENGTH = 13
PASSWORD_LENGTH = 6


def luhn_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:  # doubled positions, counted from the digit left of the check digit
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def new_case_number(local_day: dt.date) -> str:
    body = local_day.strftime("%y%m%d") + f"{secrets.randbelow(10**6):06d}"
    return body + luhn_digit(body)


def is_valid_case_number(text: str) -> bool:
    return (len(text) == NUMBER_LENGTH and text.isascii() and text.isdigit()
            and luhn_digit(text[:-1]) == text[-1])


def new_password() -> str:
    return f"{secrets.randbelow(10**PASSWORD_LENGTH):0{PASSWORD_LENGTH}d}"


MIN_TIME_COST = 1
MIN_MEMORY_KIB = 1024  # below this argon2id's memory hardness is nominal (the format allows 8 KiB)


class SecretHasher:
    """argon2id (RFC 9106; one lane, 16-byte salt, 32-byte hash) run off the event loop on the
    executor's threads: argon2-cffi releases the GIL while it works, so hashing uses the other
    cores while the loop serves requests. Case passwords are six digits: no cost setting makes
    them hard to guess offline, the look-up rate limit protects them; the default cost (t=1,
    2 MiB, ~1 ms) keeps a stolen database from revealing them outright without taxing each
    creation and look-up. Staff passwords use the library's defaults (t=3, 64 MiB)."""

    def __init__(self, time_cost: int, memory_kib: int, executor: ThreadPoolExecutor | None = None):
        if time_cost < MIN_TIME_COST or memory_kib < MIN_MEMORY_KIB:
            raise ValueError(f"argon2id cost too low: time_cost {time_cost} (at least {MIN_TIME_COST}), "
                             f"memory {memory_kib} KiB (at least {MIN_MEMORY_KIB})")
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1,
                                      hash_len=32, salt_len=16, type=Type.ID)
        self._executor = executor
        # Verifying against this when a case or user does not exist keeps both answers equally slow.
        self._dummy = self._hasher.hash(secrets.token_hex(8))

    def hash_sync(self, secret: str) -> str:
        return self._hasher.hash(secret)

    def verify_sync(self, stored: str | None, secret: str) -> bool:
        try:
            return self._hasher.verify(stored or self._dummy, secret) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    async def hash(self, secret: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.hash_sync, secret)

    async def verify(self, stored: str | None, secret: str) -> bool:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.verify_sync, stored, secret)
