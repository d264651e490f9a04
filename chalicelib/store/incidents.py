"""Incidents, keyed (tenantId, incidentId), with one `open#<endpoint>#<kind>` mark per open one.

Opening writes the mark (only if absent) and the incident in one transaction; closing deletes
the mark (only if it still names that incident) and closes the incident in another. Two runs
settling at once, or a listener repeated, therefore open or close an incident once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, cast

from pynamodb.exceptions import TransactWriteError, UpdateError

from chalicelib.domain.incidents import (
    Incident,
    IncidentKind,
    IncidentState,
    LastError,
)
from chalicelib.domain.timeutil import from_ms, iso, parse_instant, to_ms
from chalicelib.store.codec import instant_or_none, ms_or_none
from chalicelib.store.conditions import Transactions, condition_failed
from chalicelib.store.models import IncidentItem

MARK_PREFIX = "open#"
INCIDENT_PREFIX = "inc_"
REALERT_SHARD = "all"


def mark_key(endpoint_id: str, kind: IncidentKind) -> str:
    return f"{MARK_PREFIX}{endpoint_id}#{kind}"


class IncidentRepo:
    def __init__(self) -> None:
        self._transaction = Transactions(IncidentItem)

    def open_marks(self, tenant_id: str) -> dict[tuple[str, IncidentKind], str]:
        """(endpointId, kind) -> incident id, for every open incident of the tenant."""
        marks: dict[tuple[str, IncidentKind], str] = {}
        for item in IncidentItem.query(
            tenant_id, IncidentItem.incident_id.startswith(MARK_PREFIX), consistent_read=True
        ):
            _, endpoint_id, kind = item.incident_id.split("#", 2)
            if item.open_incident:
                marks[(endpoint_id, cast(IncidentKind, kind))] = item.open_incident
        return marks

    def open(self, incident: Incident) -> bool:
        """Store `incident` open, unless the endpoint already has one of its kind (False)."""
        mark = IncidentItem(
            incident.tenant_id,
            mark_key(incident.endpoint_id, incident.kind),
            open_incident=incident.id,
            endpoint_id=incident.endpoint_id,
            kind=incident.kind,
        )
        try:
            with self._transaction() as tw:
                tw.save(mark, condition=IncidentItem.incident_id.does_not_exist())
                tw.save(to_item(incident), condition=IncidentItem.incident_id.does_not_exist())
        except TransactWriteError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def close(
        self,
        tenant_id: str,
        endpoint_id: str,
        kind: IncidentKind,
        closed_at: datetime,
        closing_run_id: str | None,
        expires_at: datetime,
    ) -> Incident | None:
        """Close the endpoint's open incident of `kind`; the closed incident, or None when none
        was open (or someone else closed it first)."""
        key = mark_key(endpoint_id, kind)
        try:
            mark = IncidentItem.get(tenant_id, key, consistent_read=True)
        except IncidentItem.DoesNotExist:
            return None
        incident_id = mark.open_incident
        if not incident_id:
            return None
        item = IncidentItem(tenant_id, incident_id)
        try:
            with self._transaction() as tw:
                tw.delete(
                    IncidentItem(tenant_id, key),
                    condition=IncidentItem.open_incident == incident_id,
                )
                tw.update(
                    item,
                    actions=[
                        IncidentItem.state.set("closed"),
                        IncidentItem.closed_at.set(to_ms(closed_at)),
                        IncidentItem.expires_at.set(expires_at),
                        IncidentItem.realert_shard.remove(),
                        IncidentItem.realert_at.remove(),
                        *(
                            [IncidentItem.closing_run_id.set(closing_run_id)]
                            if closing_run_id
                            else []
                        ),
                    ],
                    condition=IncidentItem.state == "open",
                )
        except TransactWriteError as exc:
            if condition_failed(exc):
                return None
            raise
        return self.get(tenant_id, incident_id)

    def get(self, tenant_id: str, incident_id: str) -> Incident | None:
        if not incident_id.startswith(INCIDENT_PREFIX):
            return None
        try:
            item = IncidentItem.get(tenant_id, incident_id, consistent_read=True)
        except IncidentItem.DoesNotExist:
            return None
        return to_entity(item)

    def list(
        self,
        tenant_id: str,
        *,
        job_id: str | None = None,
        endpoint_id: str | None = None,
        state: IncidentState | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
    ) -> list[Incident]:
        """Newest first, filtered; at most `limit`."""
        low = f"{INCIDENT_PREFIX}{to_ms(since):013d}" if since else INCIDENT_PREFIX
        high = f"{INCIDENT_PREFIX}{to_ms(until):013d}" if until else f"{INCIDENT_PREFIX}~"
        condition: Any = None
        for clause in (
            IncidentItem.job_id == job_id if job_id else None,
            IncidentItem.endpoint_id == endpoint_id if endpoint_id else None,
            IncidentItem.state == state if state else None,
        ):
            if clause is not None:
                condition = clause if condition is None else condition & clause
        found: list[Incident] = []
        for item in IncidentItem.query(
            tenant_id,
            IncidentItem.incident_id.between(low, high),
            filter_condition=condition,
            scan_index_forward=False,
            page_size=100,
        ):
            found.append(to_entity(item))
            if len(found) >= limit:
                break
        return found

    def realert_due(self, now: datetime, limit: int = 100) -> Iterator[tuple[str, str]]:
        """(tenantId, incidentId) of open incidents whose reminder is due."""
        for item in IncidentItem.by_realert.query(
            REALERT_SHARD, IncidentItem.realert_at <= to_ms(now), limit=limit
        ):
            yield item.tenant_id, item.incident_id

    def record_realert(self, incident: Incident, next_at: datetime | None) -> bool:
        """Count one more reminder of `incident` as read (False: someone counted it first or
        it closed)."""
        item = IncidentItem(incident.tenant_id, incident.id)
        actions: list[Any] = [IncidentItem.realert_count.set(incident.realert_count + 1)]
        if next_at is None:
            actions += [IncidentItem.realert_shard.remove(), IncidentItem.realert_at.remove()]
        else:
            actions.append(IncidentItem.realert_at.set(to_ms(next_at)))
        condition = (IncidentItem.state == "open") & (
            IncidentItem.realert_count == incident.realert_count
        )
        try:
            item.update(actions=actions, condition=condition)
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        return True


def _error_json(e: LastError | None) -> dict[str, Any] | None:
    if e is None:
        return None
    return {
        "runId": e.run_id,
        "at": iso(e.at),
        "statusCode": e.status_code,
        "errorKind": e.error_kind,
        "message": e.message,
    }


def _error_of(value: Any) -> LastError | None:
    if not isinstance(value, dict) or not value.get("runId"):
        return None
    return LastError(
        str(value["runId"]),
        parse_instant(str(value["at"])),
        value.get("statusCode"),
        value.get("errorKind"),
        value.get("message"),
    )


def to_item(i: Incident) -> IncidentItem:
    realert = i.next_realert_at if i.state == "open" else None
    return IncidentItem(
        i.tenant_id,
        i.id,
        job_id=i.job_id,
        endpoint_id=i.endpoint_id,
        endpoint_name=i.endpoint_name,
        kind=i.kind,
        state=i.state,
        opened_at=to_ms(i.opened_at),
        failure_count=i.failure_count,
        opening_run_ids=list(i.opening_run_ids) or None,
        last_error=_error_json(i.last_error),
        closed_at=ms_or_none(i.closed_at),
        closing_run_id=i.closing_run_id,
        realert_count=i.realert_count,
        realert_shard=REALERT_SHARD if realert else None,
        realert_at=ms_or_none(realert),
        late_by_ms=i.late_by_ms,
        notify_on_recovery=i.notify_on_recovery,
        expires_at=i.expires_at,
    )


def to_entity(i: IncidentItem) -> Incident:
    return Incident(
        tenant_id=i.tenant_id,
        id=i.incident_id,
        job_id=i.job_id or "",
        endpoint_id=i.endpoint_id or "",
        endpoint_name=i.endpoint_name or "",
        kind=cast(IncidentKind, i.kind or "failures"),
        state=cast(IncidentState, i.state or "open"),
        opened_at=from_ms(int(i.opened_at or 0)),
        failure_count=int(i.failure_count or 0),
        opening_run_ids=tuple(str(r) for r in i.opening_run_ids or ()),
        last_error=_error_of(i.last_error),
        closed_at=instant_or_none(i.closed_at),
        closing_run_id=i.closing_run_id,
        realert_count=int(i.realert_count or 0),
        next_realert_at=instant_or_none(i.realert_at),
        late_by_ms=int(i.late_by_ms) if i.late_by_ms is not None else None,
        notify_on_recovery=bool(i.notify_on_recovery) if i.notify_on_recovery is not None else True,
        expires_at=i.expires_at,
    )
