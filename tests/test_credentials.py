import asyncio
import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from cases.credentials import (SecretHasher, is_valid_case_number, luhn_digit, new_case_number,
                               new_password)
from hotline.settings import Settings


def test_case_numbers_are_digits_with_date_prefix_and_check_digit():
    numbers = {new_case_number(dt.date(2026, 11, 28)) for _ in range(500)}
    assert len(numbers) > 495  # random part: not sequential, rarely colliding
    for n in numbers:
        assert n.isdigit() and len(n) == 13 and n.startswith("261128")
        assert is_valid_case_number(n)


def test_check_digit_catches_any_single_wrong_digit_and_adjacent_swaps():
    n = new_case_number(dt.date(2026, 1, 5))
    for i in range(13):
        for d in "0123456789":
            if d != n[i]:
                assert not is_valid_case_number(n[:i] + d + n[i + 1:])
    for i in range(12):
        swapped = n[:i] + n[i + 1] + n[i] + n[i + 2:]
        if swapped != n and {n[i], n[i + 1]} != {"0", "9"}:
            assert not is_valid_case_number(swapped)


def test_luhn_known_value_and_bad_shapes():
    assert luhn_digit("7992739871") == "3"
    assert not is_valid_case_number("12345")
    assert not is_valid_case_number("２６１１２８０００００００")  # full-width digits are not accepted raw


def test_passwords_are_six_digits_and_hashes_verify():
    hasher = SecretHasher(time_cost=1, memory_kib=1024)
    pw = new_password()
    assert len(pw) == 6 and pw.isdigit()
    stored = hasher.hash_sync(pw)
    assert stored.startswith("$argon2id$") and pw not in stored
    assert hasher.verify_sync(stored, pw)
    assert not hasher.verify_sync(stored, "000000" if pw != "000000" else "111111")
    assert not hasher.verify_sync(None, pw)
    assert not hasher.verify_sync("garbage", pw)


def test_the_case_kdf_is_argon2id_with_the_configured_cost():
    settings = Settings()
    stored = SecretHasher(settings.case_kdf_time_cost, settings.case_kdf_memory_kib).hash_sync("123456")
    params, salt, digest = stored.split("$")[3:]
    assert stored.startswith("$argon2id$v=19$")
    assert params == f"m={settings.case_kdf_memory_kib},t={settings.case_kdf_time_cost},p=1"
    assert len(salt) == 22 and len(digest) == 43  # 16 and 32 bytes, base64 without padding


@pytest.mark.parametrize("time_cost, memory_kib", [(0, 2048), (1, 64), (1, 1023)])
def test_a_weak_cost_is_refused(time_cost, memory_kib):
    with pytest.raises(ValueError, match="argon2id cost too low"):
        SecretHasher(time_cost, memory_kib)


async def test_hashing_runs_off_the_event_loop():
    """The hash waits until the loop has run on: it could not if it ran on the loop's thread."""
    hasher = SecretHasher(time_cost=1, memory_kib=1024, executor=ThreadPoolExecutor(1))
    loop_ran, hash_sync = threading.Event(), hasher.hash_sync

    def hash_once_the_loop_ran(secret):
        assert loop_ran.wait(10), "the event loop was blocked while hashing"
        return hash_sync(secret)
    hasher.hash_sync = hash_once_the_loop_ran
    hashing = asyncio.ensure_future(hasher.hash("123456"))
    await asyncio.sleep(0.01)  # the loop serves others meanwhile
    loop_ran.set()
    assert hasher.verify_sync(await hashing, "123456")
