"""Outbound request signing (behaviours-to-test.md 158-161 and 164-166, adapted to the pure
signer; the executor's own wiring is tested with the executor)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SigningError,
    SigningKey,
    new_key_hex,
    prefix_of,
    signature,
    signed_headers,
    unix_seconds,
    verify,
)

KEY = "a1b2c3d4" * 8
OTHER_KEY = "0f" * 32
TS = 1_700_000_000
BODY = '{"ping":true}'
HEX64 = re.compile(r"[0-9a-f]{64}")


def _independent(key_hex: str, message: str) -> str:
    return hmac.new(key_hex.encode("ascii"), message.encode("utf-8"), hashlib.sha256).hexdigest()


# 158: known answer, lowercase 64 hex, the key is the hex *text*.


def test_signature_matches_an_independent_hmac_and_a_pinned_vector() -> None:
    sig = signature(KEY, TS, BODY)
    assert sig == _independent(KEY, f"{TS}.{BODY}")
    assert sig == "a96ebda4900537ba986f441d9690c2d3ff679dca9eef88bda2bb844ae75772da"
    assert HEX64.fullmatch(sig)


def test_empty_body_signs_timestamp_and_dot() -> None:
    sig = signature(KEY, TS, "")
    assert sig == _independent(KEY, f"{TS}.")
    assert sig == "8140605bea6950605916e6938aa1d236ee43b217bec0f06e2ee00b99330850b5"
    assert signature(KEY, TS, b"") == sig


def test_key_is_the_ascii_hex_text_not_the_decoded_bytes() -> None:
    decoded = hmac.new(bytes.fromhex(KEY), f"{TS}.{BODY}".encode(), hashlib.sha256).hexdigest()
    assert signature(KEY, TS, BODY) != decoded


def test_body_is_signed_exactly_as_sent() -> None:
    text = '{"city":"Zürich", "n": 1}'
    assert signature(KEY, TS, text) == _independent(KEY, f"{TS}.{text}")
    assert signature(KEY, TS, text.encode("utf-8")) == signature(KEY, TS, text)
    # Re-serialising changes the bytes and so the signature.
    compact = json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
    assert signature(KEY, TS, compact) != signature(KEY, TS, text)


# 159: any input change changes the signature; same inputs, same signature.


def test_signature_is_deterministic_and_depends_on_every_input() -> None:
    base = signature(KEY, TS, BODY)
    assert signature(KEY, TS, BODY) == base
    assert signature(OTHER_KEY, TS, BODY) != base
    assert signature(KEY, TS + 1, BODY) != base
    assert signature(KEY, TS, BODY + " ") != base
    assert signature(KEY, TS, "") != base


# 160, 161: headers on the wire, timestamp in whole seconds.


def test_signed_headers_are_exactly_the_two_headers() -> None:
    headers = signed_headers(KEY, TS, BODY)
    assert headers == {
        "X-Cronpilot-Signature": "sha256=" + _independent(KEY, f"{TS}.{BODY}"),
        "X-Cronpilot-Timestamp": "1700000000",
    }
    assert verify(KEY, headers["X-Cronpilot-Timestamp"], headers["X-Cronpilot-Signature"], BODY, TS)


def test_bodyless_request_headers_sign_the_empty_string() -> None:
    headers = signed_headers(KEY, TS, "")
    assert headers["X-Cronpilot-Signature"] == "sha256=" + _independent(KEY, f"{TS}.")


def test_timestamp_is_floor_of_clock_seconds() -> None:
    assert unix_seconds(datetime(2023, 11, 14, 22, 13, 20, 999_999, tzinfo=UTC)) == TS
    assert unix_seconds(datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)) == TS
    assert unix_seconds(datetime(1970, 1, 1, tzinfo=UTC)) == 0


# 164: the signature headers go over the request's own headers without dropping any.


def test_merging_keeps_existing_headers_and_overrides_same_named_ones() -> None:
    own = {
        "Authorization": "Bearer t",
        "X-Custom": "1",
        "X-Cronpilot-Timestamp": "forged",
    }
    merged = {**own, **signed_headers(KEY, TS, BODY)}
    assert merged["Authorization"] == "Bearer t" and merged["X-Custom"] == "1"
    assert merged["X-Cronpilot-Timestamp"] == str(TS)
    assert merged["X-Cronpilot-Signature"].startswith("sha256=")


# 166 (pure part): key generation and prefix.


def test_new_keys_are_64_lowercase_hex_and_distinct() -> None:
    keys = {new_key_hex() for _ in range(50)}
    assert len(keys) == 50
    assert all(HEX64.fullmatch(k) for k in keys)


def test_prefix_is_sk_and_first_eight_hex() -> None:
    assert prefix_of(KEY) == "sk_a1b2c3d4"
    key = new_key_hex()
    assert prefix_of(key) == "sk_" + key[:8]


def test_repr_of_a_key_never_shows_the_secret() -> None:
    key = SigningKey("acme", KEY, prefix_of(KEY), datetime(2025, 1, 1, tzinfo=UTC))
    assert KEY not in repr(key) and "sk_a1b2c3d4" in repr(key)


# Signing never silently degrades: a bad key or timestamp is an error, not an unsigned request.


@pytest.mark.parametrize("bad", ["", KEY[:-1], KEY + "0", KEY.upper(), "g" * 64, f" {KEY}"])
def test_malformed_key_cannot_sign(bad: str) -> None:
    with pytest.raises(SigningError):
        signature(bad, TS, BODY)
    with pytest.raises(SigningError):
        signed_headers(bad, TS, BODY)
    with pytest.raises(SigningError):
        prefix_of(bad)


def test_negative_timestamp_cannot_sign() -> None:
    with pytest.raises(SigningError):
        signature(KEY, -1, BODY)


# Receiver side (executor.md 3.3): the function the README shows.


def _headers(key: str = KEY, ts: int = TS, body: str = BODY) -> tuple[str, str]:
    h = signed_headers(key, ts, body)
    return h["X-Cronpilot-Timestamp"], h["X-Cronpilot-Signature"]


def test_verify_accepts_a_good_signature() -> None:
    ts, sig = _headers()
    assert verify(KEY, ts, sig, BODY, TS)
    assert verify(KEY, ts, sig, BODY.encode(), TS + 10)
    assert verify(KEY, ts, sig.upper().replace("SHA256=", "sha256="), BODY, TS)
    assert verify(f"{KEY}\n", ts, sig, BODY, TS)  # a key read from a file with its newline


def test_verify_rejects_wrong_key_and_tampered_body() -> None:
    ts, sig = _headers()
    assert not verify(OTHER_KEY, ts, sig, BODY, TS)
    assert not verify(KEY, ts, sig, '{"ping":false}', TS)
    assert not verify(KEY, ts, sig, "", TS)
    assert not verify(KEY, str(TS + 1), sig, BODY, TS)  # timestamp swapped, signature replayed


def test_verify_tolerance_both_ways() -> None:
    ts, sig = _headers()
    assert verify(KEY, ts, sig, BODY, TS + 300)
    assert verify(KEY, ts, sig, BODY, TS - 300)
    assert not verify(KEY, ts, sig, BODY, TS + 301)  # stale: replay
    assert not verify(KEY, ts, sig, BODY, TS - 301)  # from the future: clock skew or forgery
    assert verify(KEY, ts, sig, BODY, TS + 3600, tolerance_s=3600)
    assert not verify(KEY, ts, sig, BODY, TS + 3601, tolerance_s=3600)


GOOD = signature(KEY, TS, BODY)


@pytest.mark.parametrize(
    ("ts", "sig"),
    [
        (None, f"sha256={GOOD}"),
        (str(TS), None),
        ("", f"sha256={GOOD}"),
        ("abc", f"sha256={GOOD}"),
        ("-1700000000", f"sha256={GOOD}"),
        ("1700000000.5", f"sha256={GOOD}"),
        ("\u0661" * 10, f"sha256={GOOD}"),  # ARABIC-INDIC DIGIT ONE: str.isdigit() is True
        ("1" * 40, f"sha256={GOOD}"),
        (str(TS), ""),
        (str(TS), "sha256="),
        (str(TS), GOOD),  # no scheme
        (str(TS), f"sha1={GOOD}"),
        (str(TS), f"sha256={GOOD[:-1]}"),
        (str(TS), "sha256=" + "z" * 64),
        (str(TS), "sha256=" + "é" * 64),  # non-ASCII: must not reach compare_digest
        (str(TS), f"sha256={GOOD},"),  # an empty entry spoils the list
        (str(TS), f"sha256={GOOD},sha1={GOOD}"),
        (str(TS), ",".join([f"sha256={GOOD}"] * 3)),  # at most one signature per key in use
    ],
)
def test_verify_rejects_missing_and_malformed_headers(ts: str | None, sig: str | None) -> None:
    assert verify(KEY, str(TS), f"sha256={GOOD}", BODY, TS)
    assert not verify(KEY, ts, sig, BODY, TS)


def test_verify_recomputes_over_the_timestamp_text_received() -> None:
    padded = f"0{TS}"
    assert not verify(KEY, padded, "sha256=" + signature(KEY, TS, BODY), BODY, TS)
    sig = hmac.new(KEY.encode(), f"{padded}.{BODY}".encode(), hashlib.sha256).hexdigest()
    assert verify(KEY, padded, "sha256=" + sig, BODY, TS)


def test_verify_with_a_malformed_key_raises() -> None:
    ts, sig = _headers()
    with pytest.raises(SigningError):
        verify("not-a-key", ts, sig, BODY, TS)


@settings(max_examples=200, deadline=None)
@given(
    body=st.one_of(st.text(), st.binary()),
    ts=st.integers(min_value=0, max_value=10**11),
    skew=st.integers(min_value=-300, max_value=300),
)
def test_what_is_signed_verifies(body: str | bytes, ts: int, skew: int) -> None:
    headers = signed_headers(KEY, ts, body)
    stamp, sig = headers["X-Cronpilot-Timestamp"], headers["X-Cronpilot-Signature"]
    assert verify(KEY, stamp, sig, body, ts + skew)
    assert not verify(OTHER_KEY, stamp, sig, body, ts + skew)


def test_two_keys_sign_newest_first_and_either_verifies() -> None:
    new, old = "cd" * 32, KEY
    headers = signed_headers([new, old], TS, BODY)
    assert headers[TIMESTAMP_HEADER] == str(TS)
    assert headers[SIGNATURE_HEADER] == (
        f"sha256={signature(new, TS, BODY)},sha256={signature(old, TS, BODY)}"
    )
    for key in (new, old):
        assert verify(key, str(TS), headers[SIGNATURE_HEADER], BODY, TS)
    assert not verify("ef" * 32, str(TS), headers[SIGNATURE_HEADER], BODY, TS)
    assert not verify(old, str(TS), headers[SIGNATURE_HEADER], b"tampered", TS)


def test_no_key_cannot_sign() -> None:
    with pytest.raises(SigningError):
        signed_headers([], TS, BODY)


def test_replaced_key_signs_until_its_grace_window_ends() -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    key = SigningKey(
        "t1",
        "cd" * 32,
        "sk_cdcdcdcd",
        start,
        rotated_at=start,
        previous_key_hex=KEY,
        previous_key_prefix=prefix_of(KEY),
        previous_expires_at=start + timedelta(hours=24),
    )
    assert key.signing_keys(start) == ("cd" * 32, KEY)
    assert key.signing_keys(start + timedelta(hours=24, milliseconds=-1)) == ("cd" * 32, KEY)
    assert key.signing_keys(start + timedelta(hours=24)) == ("cd" * 32,)
    assert KEY not in repr(key)
    assert SigningKey("t1", KEY, prefix_of(KEY), start).signing_keys(start) == (KEY,)
