"""Alert policies: the tenant's defaults on its tenant item, a job's own fields on its job item
(only the fields someone set, so a later change of the defaults reaches every job that did not
set that field)."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.domain.errors import NotFound
from chalicelib.store.conditions import condition_failed
from chalicelib.store.models import JobItem, TenantItem


class AlertPolicyRepo:
    def tenant_defaults(self, tenant_id: str) -> dict[str, Any]:
        try:
            item = TenantItem.get(tenant_id, attributes_to_get=["tenantId", "alertDefaults"])
        except TenantItem.DoesNotExist:
            return {}
        return dict(item.alert_defaults or {})

    def job_policy(self, tenant_id: str, job_id: str) -> dict[str, Any]:
        try:
            item = JobItem.get(tenant_id, job_id, attributes_to_get=["jobId", "alertPolicy"])
        except JobItem.DoesNotExist:
            return {}
        return dict(item.alert_policy or {})

    def set_tenant_defaults(self, tenant_id: str, fields: dict[str, Any]) -> None:
        try:
            TenantItem(tenant_id).update(
                actions=[TenantItem.alert_defaults.set(fields)],
                condition=TenantItem.tenant_id.exists(),
            )
        except UpdateError as exc:
            if condition_failed(exc):
                raise NotFound("Tenant not found") from None
            raise

    def set_job_policy(self, tenant_id: str, job_id: str, fields: dict[str, Any]) -> None:
        try:
            JobItem(tenant_id, job_id).update(
                actions=[JobItem.alert_policy.set(fields)],
                condition=JobItem.job_id.exists(),
            )
        except UpdateError as exc:
            if condition_failed(exc):
                raise NotFound("Job not found") from None
            raise
