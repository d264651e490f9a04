"""An abandoned claim: expired with its token still on the endpoint (settling removes it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.entities import Endpoint
from chalicelib.domain.inflight import abandoned, locked

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def _endpoint(token: str | None, until: datetime | None) -> Endpoint:
    return Endpoint(
        "acme", "ep", "job", "e", "https://example.com", NOW, NOW, NOW,
        lock_token=token, locked_until=until,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("token", "until", "expected"),
    [
        ("t", NOW - timedelta(milliseconds=1), True),  # expired, never settled
        ("t", NOW, True),  # a claim may take it over from this instant (locked_until <= now)
        ("t", NOW + timedelta(seconds=1), False),  # still held: its run may yet settle
        (None, None, False),  # settled
        (None, NOW - timedelta(seconds=1), False),  # settled; the old end left behind
    ],
)
def test_only_an_expired_claim_with_its_token_was_abandoned(
    token: str | None, until: datetime | None, expected: bool
) -> None:
    endpoint = _endpoint(token, until)
    assert abandoned(endpoint, NOW) is expected
    assert not (abandoned(endpoint, NOW) and locked(endpoint, NOW))
