"""pynamodb models, one per table; `tests/integration/test_infra_matches_models.py` keeps them
equal to the CloudFormation definitions in infra/resources.json."""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.connection import TableConnection
from pynamodb.indexes import (
    AllProjection,
    GlobalSecondaryIndex,
    IncludeProjection,
    KeysOnlyProjection,
)
from pynamodb.models import Model

from chalicelib.settings import Settings
from chalicelib.store import client


class _Base(Model):
    class Meta:
        table_name = "unbound"
        region = "us-east-1"
        max_retry_attempts = 3
        connect_timeout_seconds = 5
        read_timeout_seconds = 10
        # botocore's default pool of 10 made concurrent requests open and drop connections
        # (the local server handles 16+ at once; so does a Lambda executor's thread pool).
        max_pool_connections = 64

    @classmethod
    def _get_connection(cls) -> TableConnection:
        table = super()._get_connection()
        client.adopt(table.connection)  # every table on one botocore client (store/client.py)
        return table


class TenantItem(_Base):
    class Meta(_Base.Meta):
        table_name = "tenants"

    tenant_id = UnicodeAttribute(hash_key=True, attr_name="tenantId")
    name = UnicodeAttribute()
    created_at = NumberAttribute(attr_name="createdAt")
    limits = JSONAttribute()
    # Endpoints that count toward maxEndpoints, kept with conditional updates so the limit
    # holds under concurrent creates and checking it costs one write, not a count.
    live_endpoints = NumberAttribute(default=0, attr_name="liveEndpoints")
    # Planner tokens of the calendar month `aiTokensPeriod` ("2026-11"), added after each
    # session; a new month starts from zero. `aiSkippedAt`: last analysis refused for budget.
    ai_tokens_period = UnicodeAttribute(null=True, attr_name="aiTokensPeriod")
    ai_tokens_used = NumberAttribute(null=True, attr_name="aiTokensUsed")
    ai_skipped_at = NumberAttribute(null=True, attr_name="aiSkippedAt")
    # The tenant's alert policy defaults (domain/incidents.py AlertPolicy, camelCase JSON).
    alert_defaults = JSONAttribute(null=True, attr_name="alertDefaults")


class ApiKeysByTenant(GlobalSecondaryIndex["ApiKeyItem"]):
    class Meta:
        index_name = "byTenant"
        projection = AllProjection()

    tenant_id = UnicodeAttribute(hash_key=True, attr_name="tenantId")
    key_id = UnicodeAttribute(range_key=True, attr_name="keyId")


class ApiKeyItem(_Base):
    class Meta(_Base.Meta):
        table_name = "api-keys"

    key_hash = UnicodeAttribute(hash_key=True, attr_name="keyHash")
    key_id = UnicodeAttribute(attr_name="keyId")
    tenant_id = UnicodeAttribute(attr_name="tenantId")
    start = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    created_at = NumberAttribute(attr_name="createdAt")
    expires_at = NumberAttribute(null=True, attr_name="expiresAt")
    revoked_at = NumberAttribute(null=True, attr_name="revokedAt")
    by_tenant = ApiKeysByTenant()


class SigningKeyItem(_Base):
    """One outbound signing key per tenant. The raw key is stored: signing needs it."""

    class Meta(_Base.Meta):
        table_name = "signing-keys"

    tenant_id = UnicodeAttribute(hash_key=True, attr_name="tenantId")
    key_hex = UnicodeAttribute(attr_name="keyHex")
    key_prefix = UnicodeAttribute(attr_name="keyPrefix")
    created_at = NumberAttribute(attr_name="createdAt")
    rotated_at = NumberAttribute(null=True, attr_name="rotatedAt")
    # The key the last rotation replaced, signing alongside until previousExpiresAt.
    previous_key_hex = UnicodeAttribute(null=True, attr_name="previousKeyHex")
    previous_key_prefix = UnicodeAttribute(null=True, attr_name="previousKeyPrefix")
    previous_expires_at = NumberAttribute(null=True, attr_name="previousExpiresAt")


class JobItem(_Base):
    class Meta(_Base.Meta):
        table_name = "jobs"

    tenant_id = UnicodeAttribute(hash_key=True, attr_name="tenantId")
    job_id = UnicodeAttribute(range_key=True, attr_name="jobId")
    name = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    created_at = NumberAttribute(attr_name="createdAt")
    updated_at = NumberAttribute(attr_name="updatedAt")
    archived_at = NumberAttribute(null=True, attr_name="archivedAt")
    # One analyzer at a time per job: duplicate or overlapping messages find the lease held.
    analysis_lease_until = NumberAttribute(null=True, attr_name="analysisLeaseUntil")
    # The job's own alert policy fields over the tenant's defaults (camelCase JSON).
    alert_policy = JSONAttribute(null=True, attr_name="alertPolicy")


class EndpointsByJob(GlobalSecondaryIndex["EndpointItem"]):
    """Configurations by job. State items carry no `jobId` (a run's claim and settle then
    write no copy here); those written before they stopped leave at their next settle."""

    class Meta:
        index_name = "byJob"
        projection = AllProjection()

    job_id = UnicodeAttribute(hash_key=True, attr_name="jobId")
    endpoint_id = UnicodeAttribute(range_key=True, attr_name="endpointId")


class EndpointsByDue(GlobalSecondaryIndex["EndpointItem"]):
    """Sparse: only endpoints that may run (not archived, job active) carry `dueShard`."""

    class Meta:
        index_name = "byDue"
        projection = AllProjection()

    due_shard = UnicodeAttribute(hash_key=True, attr_name="dueShard")
    next_run_at = NumberAttribute(range_key=True, attr_name="nextRunAt")


class EndpointsByAnalysis(GlobalSecondaryIndex["EndpointItem"]):
    """Sparse: endpoints in the due index that the planner should look at, by due time. The
    projected `jobId` is there only on state items written before they stopped carrying it."""

    class Meta:
        index_name = "byAnalysis"
        projection = IncludeProjection(["jobId"])

    due_shard = UnicodeAttribute(hash_key=True, attr_name="dueShard")
    analysis_due_at = NumberAttribute(range_key=True, attr_name="analysisDueAt")


class EndpointItem(_Base):
    """Both items of an endpoint (store/endpoint_items.py): its configuration, keyed by its id,
    and its schedule state, keyed `{id}#s`; each sets only its own attributes, hence the
    nullable ones. Items from before the split hold all of them."""

    class Meta(_Base.Meta):
        table_name = "endpoints"

    tenant_id = UnicodeAttribute(hash_key=True, attr_name="tenantId")
    endpoint_id = UnicodeAttribute(range_key=True, attr_name="endpointId")
    # On configurations; state items written before byJob held configurations alone have it too.
    job_id = UnicodeAttribute(null=True, attr_name="jobId")
    name = UnicodeAttribute(null=True)
    description = UnicodeAttribute(null=True)
    url = UnicodeAttribute(null=True)
    method = UnicodeAttribute(null=True)
    # Secret values are sealed strings (chalicelib/sealing), never clear text.
    headers_json = JSONAttribute(null=True, attr_name="headersJson")
    secret_headers = ListAttribute(of=UnicodeAttribute, null=True, attr_name="secretHeaders")
    body_json = JSONAttribute(null=True, attr_name="bodyJson")
    baseline_cron = UnicodeAttribute(null=True, attr_name="baselineCron")
    baseline_interval_ms = NumberAttribute(null=True, attr_name="baselineIntervalMs")
    timezone = UnicodeAttribute(null=True)
    min_interval_ms = NumberAttribute(null=True, attr_name="minIntervalMs")
    max_interval_ms = NumberAttribute(null=True, attr_name="maxIntervalMs")
    timeout_ms = NumberAttribute(null=True, attr_name="timeoutMs")
    max_execution_time_ms = NumberAttribute(null=True, attr_name="maxExecutionTimeMs")
    max_response_size_kb = NumberAttribute(null=True, attr_name="maxResponseSizeKb")
    next_run_at = NumberAttribute(null=True, attr_name="nextRunAt")
    last_run_at = NumberAttribute(null=True, attr_name="lastRunAt")
    failure_count = NumberAttribute(null=True, attr_name="failureCount")
    paused_until = NumberAttribute(null=True, attr_name="pausedUntil")
    archived_at = NumberAttribute(null=True, attr_name="archivedAt")
    ai_hint_interval_ms = NumberAttribute(null=True, attr_name="aiHintIntervalMs")
    ai_hint_next_run_at = NumberAttribute(null=True, attr_name="aiHintNextRunAt")
    ai_hint_expires_at = NumberAttribute(null=True, attr_name="aiHintExpiresAt")
    ai_hint_reason = UnicodeAttribute(null=True, attr_name="aiHintReason")
    ai_hint_set_by = JSONAttribute(null=True, attr_name="aiHintSetBy")
    next_run_cause = JSONAttribute(null=True, attr_name="nextRunCause")
    locked_until = NumberAttribute(null=True, attr_name="lockedUntil")
    lock_token = UnicodeAttribute(null=True, attr_name="lockToken")
    enqueued_slot = NumberAttribute(null=True, attr_name="enqueuedSlot")
    enqueued_at = NumberAttribute(null=True, attr_name="enqueuedAt")
    due_shard = UnicodeAttribute(null=True, attr_name="dueShard")
    signal_fingerprint = UnicodeAttribute(null=True, attr_name="signalFingerprint")
    state_changed_at = NumberAttribute(null=True, attr_name="stateChangedAt")
    state_changed_by = NumberAttribute(null=True, attr_name="stateChangedBy")
    analysis_due_at = NumberAttribute(null=True, attr_name="analysisDueAt")
    # On state items: the version of the configuration written with them, so a claim can use a
    # configuration it already holds (store/config_cache.py). Absent on older state items.
    config_version = NumberAttribute(null=True, attr_name="configVersion")
    created_at = NumberAttribute(null=True, attr_name="createdAt")
    updated_at = NumberAttribute(null=True, attr_name="updatedAt")
    version = VersionAttribute()
    by_job = EndpointsByJob()
    by_due = EndpointsByDue()
    by_analysis = EndpointsByAnalysis()


# What dashboards and metering read; response bodies stay out of the index.
RUN_SUMMARY_ATTRIBUTES = [
    "jobId",
    "status",
    "finishedAt",
    "attempt",
    "source",
    "durationMs",
    "statusCode",
    "errorKind",
    "expiresAt",
]


class RunsByTenant(GlobalSecondaryIndex["RunItem"]):
    """Runs of a tenant by start time, without bodies (summary attributes only)."""

    class Meta:
        index_name = "byTenant"
        projection = IncludeProjection(RUN_SUMMARY_ATTRIBUTES)

    tenant_id = UnicodeAttribute(hash_key=True, attr_name="tenantId")
    started_at = NumberAttribute(range_key=True, attr_name="startedAt")


class RunsRunning(GlobalSecondaryIndex["RunItem"]):
    """No longer written or read: zombies are found through their endpoints' expired claims
    (engine/zombies.py), which saved its two write units a run. Runs written `running` by the
    release before still carry `runningShard`. CloudFormation creates or deletes one index per
    table update, and byRunId (a write unit on every run) went first: the next release deletes
    this one."""

    class Meta:
        index_name = "byRunning"
        projection = KeysOnlyProjection()

    running_shard = UnicodeAttribute(hash_key=True, attr_name="runningShard")
    deadline_at = NumberAttribute(range_key=True, attr_name="deadlineAt")


class RunItem(_Base):
    class Meta(_Base.Meta):
        table_name = "runs"

    endpoint_id = UnicodeAttribute(hash_key=True, attr_name="endpointId")
    run_id = UnicodeAttribute(range_key=True, attr_name="runId")
    tenant_id = UnicodeAttribute(attr_name="tenantId")
    job_id = UnicodeAttribute(attr_name="jobId")
    status = UnicodeAttribute()
    started_at = NumberAttribute(attr_name="startedAt")
    finished_at = NumberAttribute(null=True, attr_name="finishedAt")
    attempt = NumberAttribute(default=1)
    source = UnicodeAttribute(null=True)
    duration_ms = NumberAttribute(null=True, attr_name="durationMs")
    status_code = NumberAttribute(null=True, attr_name="statusCode")
    error_message = UnicodeAttribute(null=True, attr_name="errorMessage")
    error_kind = UnicodeAttribute(null=True, attr_name="errorKind")
    response_body = JSONAttribute(null=True, attr_name="responseBody")
    # The same, zlib-compressed JSON (store/packed.py), in place of responseBody when it gains.
    response_body_z = BinaryAttribute(null=True, legacy_encoding=False, attr_name="responseBodyZ")
    response_truncated = BooleanAttribute(default=False, attr_name="responseTruncated")
    slot_at = NumberAttribute(null=True, attr_name="slotAt")
    cause = JSONAttribute(null=True)
    running_shard = UnicodeAttribute(null=True, attr_name="runningShard")
    deadline_at = NumberAttribute(null=True, attr_name="deadlineAt")
    expires_at = TTLAttribute(null=True, attr_name="expiresAt")
    # No index by run id: a run id carries its start, and byTenant finds it from that.
    by_tenant = RunsByTenant()
    by_running = RunsRunning()


class SessionsById(GlobalSecondaryIndex["SessionItem"]):
    class Meta:
        index_name = "bySessionId"
        projection = KeysOnlyProjection()

    session_id = UnicodeAttribute(hash_key=True, attr_name="sessionId")


class SessionsByTenant(GlobalSecondaryIndex["SessionItem"]):
    class Meta:
        index_name = "byTenant"
        projection = AllProjection()

    tenant_id = UnicodeAttribute(hash_key=True, attr_name="tenantId")
    analyzed_at = NumberAttribute(range_key=True, attr_name="analyzedAt")


class SessionItem(_Base):
    class Meta(_Base.Meta):
        table_name = "sessions"

    endpoint_id = UnicodeAttribute(hash_key=True, attr_name="endpointId")
    session_id = UnicodeAttribute(range_key=True, attr_name="sessionId")
    tenant_id = UnicodeAttribute(attr_name="tenantId")
    job_id = UnicodeAttribute(attr_name="jobId")
    analyzed_at = NumberAttribute(attr_name="analyzedAt")
    reasoning = UnicodeAttribute(default="")
    tool_calls = JSONAttribute(null=True, attr_name="toolCalls")
    # The same, zlib-compressed JSON (store/packed.py), in place of toolCalls when large.
    tool_calls_z = BinaryAttribute(null=True, legacy_encoding=False, attr_name="toolCallsZ")
    token_usage = NumberAttribute(null=True, attr_name="tokenUsage")
    input_tokens = NumberAttribute(null=True, attr_name="inputTokens")
    output_tokens = NumberAttribute(null=True, attr_name="outputTokens")
    duration_ms = NumberAttribute(null=True, attr_name="durationMs")
    next_analysis_at = NumberAttribute(null=True, attr_name="nextAnalysisAt")
    endpoint_failure_count = NumberAttribute(null=True, attr_name="endpointFailureCount")
    confidence = UnicodeAttribute(null=True)
    status = UnicodeAttribute(default="success")
    error_message = UnicodeAttribute(null=True, attr_name="errorMessage")
    warnings = JSONAttribute(null=True)
    expires_at = TTLAttribute(null=True, attr_name="expiresAt")
    # {endpointId: stateChangedAt ms} of the siblings as the session read them.
    siblings_seen = JSONAttribute(null=True, attr_name="siblingsSeen")
    trigger = UnicodeAttribute(null=True)
    # {endpointId: startedAt ms} of the answers the session read, its own and its siblings'.
    answers_read = JSONAttribute(null=True, attr_name="answersRead")
    by_id = SessionsById()
    by_tenant = SessionsByTenant()


class ReflexItem(_Base):
    """A job's reflexes live in its partition: one query after a run finds every rule that
    watches it."""

    class Meta(_Base.Meta):
        table_name = "reflexes"

    job_id = UnicodeAttribute(hash_key=True, attr_name="jobId")
    reflex_id = UnicodeAttribute(range_key=True, attr_name="reflexId")
    tenant_id = UnicodeAttribute(attr_name="tenantId")
    endpoint_id = UnicodeAttribute(attr_name="endpointId")
    spec = JSONAttribute()
    created_by = JSONAttribute(attr_name="createdBy")
    created_at = NumberAttribute(attr_name="createdAt")
    updated_at = NumberAttribute(attr_name="updatedAt")
    fire_count = NumberAttribute(default=0, attr_name="fireCount")
    last_fired_at = NumberAttribute(null=True, attr_name="lastFiredAt")
    last_fired_run_id = UnicodeAttribute(null=True, attr_name="lastFiredRunId")
    seen = JSONAttribute(null=True)
    # DynamoDB's TTL sweep removes expired rules some time after their expiry; reads filter.
    expires_at = TTLAttribute(null=True, attr_name="expiresAt")


class RateLimitItem(_Base):
    """Requests counted for one rate-limit key in one minute (domain/ratelimit.py)."""

    class Meta(_Base.Meta):
        table_name = "rate-limits"

    bucket = UnicodeAttribute(hash_key=True)
    hits = NumberAttribute(null=True)
    expires_at = TTLAttribute(null=True, attr_name="expiresAt")


class IncidentsByRealert(GlobalSecondaryIndex["IncidentItem"]):
    """Sparse: only open incidents that remind carry `realertShard`, by when they next do."""

    class Meta:
        index_name = "byRealert"
        projection = KeysOnlyProjection()

    realert_shard = UnicodeAttribute(hash_key=True, attr_name="realertShard")
    realert_at = NumberAttribute(range_key=True, attr_name="realertAt")


class IncidentItem(_Base):
    """A tenant's incidents (`inc_<ms>_...`, so a key range is a time range) and, beside them,
    one `open#<endpointId>#<kind>` mark per open incident: creating the mark is the conditional
    write that lets exactly one incident open per endpoint and kind."""

    class Meta(_Base.Meta):
        table_name = "incidents"

    tenant_id = UnicodeAttribute(hash_key=True, attr_name="tenantId")
    incident_id = UnicodeAttribute(range_key=True, attr_name="incidentId")
    # On a mark: the incident it stands for.
    open_incident = UnicodeAttribute(null=True, attr_name="openIncident")
    job_id = UnicodeAttribute(null=True, attr_name="jobId")
    endpoint_id = UnicodeAttribute(null=True, attr_name="endpointId")
    endpoint_name = UnicodeAttribute(null=True, attr_name="endpointName")
    kind = UnicodeAttribute(null=True)
    state = UnicodeAttribute(null=True)
    opened_at = NumberAttribute(null=True, attr_name="openedAt")
    failure_count = NumberAttribute(null=True, attr_name="failureCount")
    opening_run_ids = ListAttribute(of=UnicodeAttribute, null=True, attr_name="openingRunIds")
    last_error = JSONAttribute(null=True, attr_name="lastError")
    closed_at = NumberAttribute(null=True, attr_name="closedAt")
    closing_run_id = UnicodeAttribute(null=True, attr_name="closingRunId")
    realert_count = NumberAttribute(null=True, attr_name="realertCount")
    realert_shard = UnicodeAttribute(null=True, attr_name="realertShard")
    realert_at = NumberAttribute(null=True, attr_name="realertAt")
    late_by_ms = NumberAttribute(null=True, attr_name="lateByMs")
    notify_on_recovery = BooleanAttribute(null=True, attr_name="notifyOnRecovery")
    expires_at = TTLAttribute(null=True, attr_name="expiresAt")
    by_realert = IncidentsByRealert()


class ChannelItem(_Base):
    """A tenant's alert channels. `target`: a webhook or Slack URL sealed, or an address."""

    class Meta(_Base.Meta):
        table_name = "channels"

    tenant_id = UnicodeAttribute(hash_key=True, attr_name="tenantId")
    channel_id = UnicodeAttribute(range_key=True, attr_name="channelId")
    name = UnicodeAttribute()
    kind = UnicodeAttribute()
    target = UnicodeAttribute()
    job_ids = ListAttribute(of=UnicodeAttribute, null=True, attr_name="jobIds")
    enabled = BooleanAttribute(default=True)
    created_at = NumberAttribute(attr_name="createdAt")
    updated_at = NumberAttribute(attr_name="updatedAt")


class DeliveryItem(_Base):
    """One notice event to one channel: `<eventId>#<channelId>` under its incident (or under
    `test_<channelId>` for channel tests). Claimed with a conditional write before sending, so
    it is sent at most once whoever else holds the same message; every attempt is kept."""

    class Meta(_Base.Meta):
        table_name = "deliveries"

    incident_id = UnicodeAttribute(hash_key=True, attr_name="incidentId")
    delivery_key = UnicodeAttribute(range_key=True, attr_name="deliveryKey")
    tenant_id = UnicodeAttribute(attr_name="tenantId")
    channel_id = UnicodeAttribute(attr_name="channelId")
    channel_kind = UnicodeAttribute(attr_name="channelKind")
    channel_name = UnicodeAttribute(attr_name="channelName")
    event_id = UnicodeAttribute(attr_name="eventId")
    event = UnicodeAttribute()
    state = UnicodeAttribute()
    attempt_count = NumberAttribute(default=0, attr_name="attemptCount")
    attempts = JSONAttribute(null=True)
    lease_until = NumberAttribute(null=True, attr_name="leaseUntil")
    created_at = NumberAttribute(attr_name="createdAt")
    sent_at = NumberAttribute(null=True, attr_name="sentAt")
    expires_at = TTLAttribute(null=True, attr_name="expiresAt")


class OutboxItem(_Base):
    """Email the local stack would have sent (CRONPILOT_MAILER=outbox), newest last."""

    class Meta(_Base.Meta):
        table_name = "outbox"

    tenant_id = UnicodeAttribute(hash_key=True, attr_name="tenantId")
    message_id = UnicodeAttribute(range_key=True, attr_name="messageId")
    to = UnicodeAttribute()
    sender = UnicodeAttribute()
    subject = UnicodeAttribute()
    body = UnicodeAttribute()
    event_id = UnicodeAttribute(attr_name="eventId")
    sent_at = NumberAttribute(attr_name="sentAt")
    expires_at = TTLAttribute(null=True, attr_name="expiresAt")


# Logical id in infra/resources.json -> (model, table-name suffix).
TABLES: dict[str, tuple[type[Model], str]] = {
    "TenantsTable": (TenantItem, "tenants"),
    "ApiKeysTable": (ApiKeyItem, "api-keys"),
    "SigningKeysTable": (SigningKeyItem, "signing-keys"),
    "JobsTable": (JobItem, "jobs"),
    "EndpointsTable": (EndpointItem, "endpoints"),
    "RunsTable": (RunItem, "runs"),
    "SessionsTable": (SessionItem, "sessions"),
    "ReflexesTable": (ReflexItem, "reflexes"),
    "RateLimitsTable": (RateLimitItem, "rate-limits"),
    "IncidentsTable": (IncidentItem, "incidents"),
    "ChannelsTable": (ChannelItem, "channels"),
    "DeliveriesTable": (DeliveryItem, "deliveries"),
    "OutboxTable": (OutboxItem, "outbox"),
}


def bind(settings: Settings) -> None:
    """Point every model at `{table_prefix}-{suffix}` in the configured region.

    pynamodb caches its connection on the class, so it is dropped here too; the endpoint URL
    comes from AWS_ENDPOINT_URL_DYNAMODB (moto locally, nothing on AWS).
    """
    for model, suffix in TABLES.values():
        name = f"{settings.table_prefix}-{suffix}"
        if (model.Meta.table_name, model.Meta.region) == (name, settings.region):
            continue  # keep the cached connection: building a botocore client costs ~0.1 s
        model.Meta.table_name = name
        model.Meta.region = settings.region
        model._connection = None
        for index in _indexes(model):
            index._connection = None
        client.forget()


def _indexes(model: type[Model]) -> list[Any]:
    return [v for v in vars(model).values() if isinstance(v, GlobalSecondaryIndex)]
