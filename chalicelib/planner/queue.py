"""Jobs waiting for analysis: the analysis-queue message format and the SQS sender."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from chalicelib.engine.queue import BATCH, MAX_DELAY_S, SqsQueue

log = logging.getLogger("cronpilot.planner")


@dataclass(frozen=True, slots=True)
class JobRef:
    """One job to analyse: what an analysis-queue message carries."""

    tenant_id: str
    job_id: str

    def encode(self) -> str:
        return json.dumps({"tenantId": self.tenant_id, "jobId": self.job_id}, separators=(",", ":"))

    @classmethod
    def decode(cls, body: str) -> JobRef:
        """Parse a message body; ValueError when it is not a job reference."""
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("analysis message must be a JSON object")
        tenant, job = data.get("tenantId"), data.get("jobId")
        if not (isinstance(tenant, str) and tenant and isinstance(job, str) and job):
            raise ValueError("analysis message needs tenantId and jobId")
        return cls(tenant, job)


class AnalysisQueue(Protocol):
    def send(self, jobs: Iterable[JobRef], delay_s: int = 0) -> None: ...


class SqsAnalysisQueue(SqsQueue):
    """Sends job references in batches of ten; a failed send is found again by the next
    analysis tick through the index, so it is logged, not raised."""

    def send(self, jobs: Iterable[JobRef], delay_s: int = 0) -> None:
        refs = list(dict.fromkeys(jobs))
        if not refs:
            return
        delay = max(0, min(MAX_DELAY_S, delay_s))
        try:
            client, url = self._queue()
            for start in range(0, len(refs), BATCH):
                entries = [
                    {"Id": str(i), "MessageBody": ref.encode(), "DelaySeconds": delay}
                    for i, ref in enumerate(refs[start : start + BATCH])
                ]
                reply = client.send_message_batch(QueueUrl=url, Entries=entries)
                for failed in reply.get("Failed", []):
                    log.warning("analysis message not sent (%s); the next tick re-sends", failed)
        except Exception:
            log.exception("could not send %d analysis messages; the next tick re-sends", len(refs))
