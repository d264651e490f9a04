"""Alert policies: the tenant's defaults and each job's own settings over them."""

from __future__ import annotations

from chalicelib.deps import Deps
from chalicelib.domain.alert_schemas import AlertPolicyInput
from chalicelib.domain.entities import Tenant
from chalicelib.domain.incidents import AlertPolicy, effective_policy
from chalicelib.services.jobs import get_job


def tenant_defaults(deps: Deps, tenant: Tenant) -> AlertPolicy:
    """The defaults every job of the tenant starts from."""
    return effective_policy(deps.alert_policies.tenant_defaults(tenant.id), None)


def set_tenant_defaults(deps: Deps, tenant: Tenant, request: AlertPolicyInput) -> AlertPolicy:
    """Replace the tenant's defaults with the fields sent (absent: the built-in default)."""
    deps.alert_policies.set_tenant_defaults(tenant.id, request.stored())
    deps.incident_watch.forget_policies()
    return tenant_defaults(deps, tenant)


def job_policy(deps: Deps, tenant: Tenant, job_id: str) -> tuple[AlertPolicy, list[str]]:
    """The job's effective policy and the fields the job sets itself."""
    get_job(deps, tenant, job_id)
    own = deps.alert_policies.job_policy(tenant.id, job_id)
    defaults = deps.alert_policies.tenant_defaults(tenant.id)
    return effective_policy(defaults, own), sorted(own)


def set_job_policy(
    deps: Deps, tenant: Tenant, job_id: str, request: AlertPolicyInput
) -> tuple[AlertPolicy, list[str]]:
    """Replace the job's own settings with the fields sent; the rest follow the tenant."""
    get_job(deps, tenant, job_id)
    deps.alert_policies.set_job_policy(tenant.id, job_id, request.stored())
    deps.incident_watch.forget_policies()
    return job_policy(deps, tenant, job_id)
