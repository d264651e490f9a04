"""Telling a conditional write that lost its race from a write that failed, in one place.

Every repository guards its writes with conditions (exactly-once claims, optimistic updates,
at-most-one open incident); a refused condition is an expected answer the caller acts on, any
other error is not.
"""

from __future__ import annotations

from pynamodb.exceptions import TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

CONDITION_FAILED = "ConditionalCheckFailed"
# Another write to one of a transaction's items at the same moment: the transaction lost the
# race as surely as if its condition had failed.
TRANSACTION_CONFLICT = "TransactionConflict"


def condition_failed(exc: Exception, lost: frozenset[str] = frozenset({CONDITION_FAILED})) -> bool:
    """True if `exc` is a write refused by its condition (for a transaction: by any of `lost`)."""
    if isinstance(exc, TransactWriteError):
        reasons = exc.cancellation_reasons or []
        return any(r is not None and r.code in lost for r in reasons)
    return getattr(exc, "cause_response_code", None) == f"{CONDITION_FAILED}Exception"


class Transactions:
    """Opens write transactions on the model's own connection (and so the shared client)."""

    def __init__(self, model: type[Model]) -> None:
        self._model = model

    def __call__(self) -> TransactWrite:
        """A new transaction; commit it with `with`."""
        return TransactWrite(connection=self._model._get_connection().connection)
