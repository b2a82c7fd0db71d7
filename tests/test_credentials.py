import datetime as dt

from cases.credentials import (SecretHasher, is_valid_case_number, luhn_digit, new_case_number,
                               new_password)


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
