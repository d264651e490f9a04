"""Analysis sessions: keyed (endpointId, sessionId), time-sortable ids, TTL-expired items hidden."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.domain.entities import AnalysisSession, SessionWarning, ToolCall
from chalicelib.domain.timeutil import from_ms, to_ms
from chalicelib.store.codec import (
    instant_map_or_none,
    instant_or_none,
    int_or_none,
    ms_map_or_none,
    ms_or_none,
)
from chalicelib.store.models import SessionItem
from chalicelib.store.packed import pack, unpack


def _visible(tenant_id: str, now: datetime) -> Any:
    """The tenant's sessions that have not expired."""
    live = SessionItem.expires_at.does_not_exist() | (SessionItem.expires_at > now)
    return (SessionItem.tenant_id == tenant_id) & live


class SessionRepo:
    def put(self, session: AnalysisSession) -> None:
        to_item(session).save()

    def get(self, tenant_id: str, session_id: str, now: datetime) -> AnalysisSession | None:
        keys = list(SessionItem.by_id.query(session_id, limit=1))
        if not keys:
            return None
        try:
            session = to_entity(SessionItem.get(keys[0].endpoint_id, session_id))
        except SessionItem.DoesNotExist:
            return None
        expired = session.expires_at is not None and session.expires_at <= now
        if session.tenant_id != tenant_id or expired:
            return None
        return session

    def latest(self, tenant_id: str, endpoint_id: str, now: datetime) -> AnalysisSession | None:
        """The endpoint's newest live session (ids sort by analysis time)."""
        query = SessionItem.query(
            endpoint_id,
            filter_condition=_visible(tenant_id, now),
            scan_index_forward=False,
            page_size=5,
        )
        for item in query:
            return to_entity(item)
        return None

    def page(
        self, tenant_id: str, endpoint_id: str, now: datetime, limit: int, offset: int
    ) -> tuple[list[AnalysisSession], int]:
        condition = _visible(tenant_id, now)
        total = SessionItem.count(endpoint_id, filter_condition=condition)
        query = SessionItem.query(
            endpoint_id,
            filter_condition=condition,
            scan_index_forward=False,
            page_size=min(100, offset + limit),
        )
        sessions: list[AnalysisSession] = []
        for index, item in enumerate(query):
            if index < offset:
                continue
            sessions.append(to_entity(item))
            if len(sessions) >= limit:
                break
        return sessions, int(total)

    def for_tenant(
        self, tenant_id: str, start: datetime, end: datetime, now: datetime
    ) -> list[AnalysisSession]:
        query = SessionItem.by_tenant.query(
            tenant_id,
            SessionItem.analyzed_at.between(to_ms(start), to_ms(end)),
            filter_condition=_visible(tenant_id, now),
        )
        return [to_entity(i) for i in query]


def to_item(s: AnalysisSession) -> SessionItem:
    calls = [{"tool": c.tool, "args": c.args, "result": c.result} for c in s.tool_calls]
    packed_calls = pack(calls)
    return SessionItem(
        s.endpoint_id,
        s.id,
        tenant_id=s.tenant_id,
        job_id=s.job_id,
        analyzed_at=to_ms(s.analyzed_at),
        reasoning=s.reasoning,
        tool_calls=None if packed_calls is not None else calls,
        tool_calls_z=packed_calls,
        token_usage=s.token_usage,
        input_tokens=s.input_tokens,
        output_tokens=s.output_tokens,
        duration_ms=s.duration_ms,
        next_analysis_at=ms_or_none(s.next_analysis_at),
        endpoint_failure_count=s.endpoint_failure_count,
        confidence=s.confidence,
        status=s.status,
        error_message=s.error_message,
        warnings=[{"code": w.code, "message": w.message, "meta": w.meta} for w in s.warnings]
        or None,
        expires_at=s.expires_at,
        siblings_seen=ms_map_or_none(s.siblings_seen),
        trigger=s.trigger,
        answers_read=ms_map_or_none(s.answers_read),
    )


def to_entity(i: SessionItem) -> AnalysisSession:
    return AnalysisSession(
        endpoint_id=i.endpoint_id,
        id=i.session_id,
        tenant_id=i.tenant_id,
        job_id=i.job_id,
        analyzed_at=from_ms(int(i.analyzed_at)),
        reasoning=i.reasoning or "",
        tool_calls=tuple(
            ToolCall(tool=c.get("tool", ""), args=c.get("args"), result=c.get("result"))
            for c in (unpack(i.tool_calls_z) if i.tool_calls_z else i.tool_calls or [])
        ),
        token_usage=int_or_none(i.token_usage),
        input_tokens=int_or_none(i.input_tokens),
        output_tokens=int_or_none(i.output_tokens),
        duration_ms=int_or_none(i.duration_ms),
        next_analysis_at=instant_or_none(i.next_analysis_at),
        endpoint_failure_count=int_or_none(i.endpoint_failure_count),
        confidence=i.confidence,
        status=i.status or "success",
        error_message=i.error_message,
        warnings=tuple(
            SessionWarning(code=w.get("code", ""), message=w.get("message", ""), meta=w.get("meta"))
            for w in (i.warnings or [])
        ),
        expires_at=i.expires_at,
        siblings_seen=instant_map_or_none(i.siblings_seen),
        trigger=i.trigger,
        answers_read=instant_map_or_none(i.answers_read),
    )
