"""Which write errors are a lost race (the caller re-reads or gives up) and which are failures."""

from __future__ import annotations

from botocore.exceptions import ClientError
from pynamodb.exceptions import (
    CancellationReason,
    PutError,
    TransactWriteError,
    VerboseClientError,
)

from chalicelib.store.conditions import (
    CONDITION_FAILED,
    TRANSACTION_CONFLICT,
    condition_failed,
)


def _put_error(code: str) -> PutError:
    return PutError("Failed to put item", ClientError({"Error": {"Code": code}}, "PutItem"))


def _cancelled(*codes: str | None) -> TransactWriteError:
    reasons = [None if c is None else CancellationReason(code=c) for c in codes]
    cause = VerboseClientError(
        {"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"}},
        "TransactWriteItems",
        cancellation_reasons=reasons,
    )
    return TransactWriteError("Failed to write transaction items", cause)


def test_a_refused_condition_is_a_lost_race() -> None:
    assert condition_failed(_put_error("ConditionalCheckFailedException"))


def test_other_errors_of_a_single_write_are_failures() -> None:
    assert not condition_failed(_put_error("ProvisionedThroughputExceededException"))
    assert not condition_failed(_put_error("ValidationException"))
    assert not condition_failed(RuntimeError("not a write"))


def test_a_transaction_lost_when_any_item_failed_its_condition() -> None:
    assert condition_failed(_cancelled(None, CONDITION_FAILED))
    assert not condition_failed(_cancelled(None, "ValidationError"))
    assert not condition_failed(_cancelled(None, None))


def test_a_conflict_counts_only_where_the_caller_says_it_does() -> None:
    conflict = _cancelled(TRANSACTION_CONFLICT, None)
    assert not condition_failed(conflict)
    assert condition_failed(conflict, frozenset({CONDITION_FAILED, TRANSACTION_CONFLICT}))
