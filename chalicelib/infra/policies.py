"""Least-privilege IAM policies, one per function and stage, written to .chalice/.

Each function gets the DynamoDB actions, queues and parameters its code uses and nothing
else (reviewed against the repositories and handlers it reaches; see docs/operations.md).
`python -m chalicelib.infra.policies` rewrites the files; a test fails when they drift.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHALICE_DIR = ROOT / ".chalice"
STAGES = ("dev", "prod")

GET = ("dynamodb:GetItem",)
QUERY = ("dynamodb:Query",)
PUT = ("dynamodb:PutItem",)
UPDATE = ("dynamodb:UpdateItem",)
DELETE = ("dynamodb:DeleteItem", "dynamodb:BatchWriteItem")
SEND = ("sqs:GetQueueUrl", "sqs:SendMessage", "sqs:SendMessageBatch")
CONSUME = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
SEAL = ("kms:GenerateDataKey",)
OPEN = ("kms:Decrypt",)


@dataclass(frozen=True)
class Access:
    """Table suffix -> DynamoDB actions; queue suffix -> SQS actions."""

    tables: dict[str, tuple[str, ...]] = field(default_factory=dict)
    queues: dict[str, tuple[str, ...]] = field(default_factory=dict)
    describe_tables: tuple[str, ...] = ()
    # On the stage's secrets key (infra/deploy.json), reached through its alias only.
    secrets_key: tuple[str, ...] = ()
    # Alert email through SES (ses:SendEmail from the stage's verified identities).
    send_email: bool = False


# An endpoint is two items (store/endpoint_items.py): a change to both is one transaction
# (authorised as its component PutItem and UpdateItem), the due index's entries are completed
# with their configurations in one BatchGetItem, a job listing with its states, and the
# analysis tick reads the job of a state item from its configuration.
BATCH_GET = ("dynamodb:BatchGetItem",)
SCHEDULING = {"endpoints": GET + QUERY + PUT + UPDATE + BATCH_GET}
# Opening and closing incidents: the mark and the incident in one transaction (put, update,
# delete), the tenant's open marks, the job's and tenant's alert policy.
INCIDENTS = {
    "incidents": GET + QUERY + PUT + UPDATE + ("dynamodb:DeleteItem",),
    "jobs": GET,
    "tenants": GET,
}
FUNCTIONS: dict[str, Access] = {
    # Dispatcher: due index, in-flight marks, zombie sweep.
    # Late slots and due incident reminders are found on the same tick.
    "dispatch": Access(
        tables={**SCHEDULING, **INCIDENTS, "runs": GET + QUERY + PUT},
        queues={"runs": SEND, "notifications": SEND},
    ),
    # Executor: claim, run record, settle, signing key (created on first use), analysis mark;
    # reflexes of the job, the latest runs of siblings they read, their firing counts.
    "execute": Access(
        tables={
            **SCHEDULING,
            **INCIDENTS,
            "runs": PUT + QUERY,
            "signing-keys": GET + PUT,
            "reflexes": QUERY + UPDATE,
        },
        queues={"runs": SEND + CONSUME, "analysis": SEND, "notifications": SEND},
        secrets_key=OPEN,  # secret header values, opened for the call
    ),
    # Notifier: the incident and its endpoint's latest run, the tenant's channels, the
    # delivery claims, the signing key webhooks are signed with; retries go back on its queue.
    "notifier": Access(
        tables={
            "incidents": GET,
            "endpoints": GET,
            "runs": QUERY,
            "channels": QUERY,
            "deliveries": GET + PUT + UPDATE,
            "signing-keys": GET + PUT,
            "outbox": PUT,
        },
        queues={"notifications": SEND + CONSUME},
        secrets_key=OPEN,  # channel URLs, opened for the send
        send_email=True,
    ),
    # Analysis tick: the byAnalysis index only.
    "analyze": Access(tables={"endpoints": QUERY + BATCH_GET}, queues={"analysis": SEND}),
    # Analyzer: job lease, endpoints and their runs, sessions, the tenant's token counter.
    "analyzer": Access(
        tables={
            **SCHEDULING,
            "jobs": GET + UPDATE,
            "runs": QUERY,
            "sessions": QUERY + PUT,
            "tenants": GET + UPDATE,
            "reflexes": GET + QUERY + PUT + DELETE,
        },
        queues={"runs": SEND, "analysis": SEND + CONSUME},
    ),
    # REST API: every resource; deletes cascade to runs and sessions; admin lists tenants.
    "api_handler": Access(
        tables={
            "tenants": GET + PUT + UPDATE + ("dynamodb:Scan",),
            "api-keys": GET + QUERY + PUT + UPDATE,
            "signing-keys": GET + PUT + DELETE,
            "jobs": GET + QUERY + PUT + UPDATE,
            "endpoints": GET + QUERY + PUT + UPDATE + DELETE + BATCH_GET,
            "runs": GET + QUERY + PUT + DELETE,
            "sessions": GET + QUERY + DELETE,
            "reflexes": GET + QUERY + PUT + DELETE,
            # Shared rate-limit counters: the previous minute's count, the conditional ADD.
            "rate-limits": GET + UPDATE,
            # Alerts: channels, incidents with their deliveries, a channel test's delivery
            # (and its email in the local outbox).
            "channels": GET + QUERY + PUT + DELETE,
            "incidents": GET + QUERY,
            "deliveries": GET + QUERY + PUT + UPDATE,
            "outbox": QUERY + PUT,
        },
        # A new endpoint is announced to the analysis queue (analysed within a minute).
        queues={"runs": SEND, "analysis": SEND},
        describe_tables=("tenants",),
        secrets_key=SEAL + OPEN,  # seal header values on writes; open them for test runs
        send_email=True,  # a channel test
    ),
}


def stack_name(stage: str) -> str:
    """The CloudFormation stack (and table/queue prefix) of a stage."""
    return f"cronpilot-{stage}"


def policy(stage: str, function: str) -> dict[str, Any]:
    """The IAM policy document of one function on one stage."""
    access = FUNCTIONS[function]
    prefix = stack_name(stage)
    statements: list[dict[str, Any]] = [
        {
            "Sid": "Logs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "arn:aws:logs:*:*:*",
        },
        {
            "Sid": "Traces",
            "Effect": "Allow",
            "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            "Resource": "*",
        },
        {
            "Sid": "StageSecrets",
            "Effect": "Allow",
            "Action": ["ssm:GetParameter"],
            "Resource": f"arn:aws:ssm:*:*:parameter/cronpilot/{stage}/*",
        },
    ]
    for suffix, actions in sorted(access.tables.items()):
        table = f"arn:aws:dynamodb:*:*:table/{prefix}-{suffix}"
        extra = ("dynamodb:DescribeTable",) if suffix in access.describe_tables else ()
        statements.append(
            {
                "Sid": "Table" + "".join(p.title() for p in suffix.split("-")),
                "Effect": "Allow",
                "Action": sorted(set(actions + extra)),
                "Resource": [table, f"{table}/index/*"],
            }
        )
    for suffix, actions in sorted(access.queues.items()):
        statements.append(
            {
                "Sid": "Queue" + suffix.title(),
                "Effect": "Allow",
                "Action": sorted(set(actions)),
                "Resource": f"arn:aws:sqs:*:*:{prefix}-{suffix}",
            }
        )
    if access.secrets_key:
        statements.append(
            {
                "Sid": "SecretsKey",
                "Effect": "Allow",
                "Action": sorted(set(access.secrets_key)),
                "Resource": "arn:aws:kms:*:*:key/*",
                "Condition": {
                    "ForAnyValue:StringEquals": {"kms:ResourceAliases": secrets_alias(stage)}
                },
            }
        )
    if access.send_email:
        statements.append(
            {
                "Sid": "SendEmail",
                "Effect": "Allow",
                "Action": ["ses:SendEmail"],
                "Resource": "arn:aws:ses:*:*:identity/*",
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def secrets_alias(stage: str) -> str:
    """The alias of the stage's secrets key (infra/deploy.json names it by the stack)."""
    return f"alias/{stack_name(stage)}-secrets"


def policy_file(stage: str, function: str) -> Path:
    return CHALICE_DIR / f"policy-{stage}-{function}.json"


def render(stage: str, function: str) -> str:
    return json.dumps(policy(stage, function), indent=2) + "\n"


def main() -> int:
    """Write every policy file."""
    for stage in STAGES:
        for function in FUNCTIONS:
            policy_file(stage, function).write_text(render(stage, function))
    return 0


if __name__ == "__main__":
    sys.exit(main())
