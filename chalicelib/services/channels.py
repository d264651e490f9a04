"""A tenant's alert channels: created, listed, changed, removed and tested. Every rule is
checked before anything is written: the kind's target, the URL guard (private and metadata
addresses refused unless private targets are allowed), and the subscribed jobs (another
tenant's job id is 404)."""

from __future__ import annotations

import secrets
from dataclasses import replace

from chalicelib.deps import Deps
from chalicelib.domain.alert_schemas import ChannelCreate, ChannelUpdate, check_no_mask
from chalicelib.domain.channels import MAX_CHANNELS, URL_KINDS, Channel, shown_target
from chalicelib.domain.entities import Tenant
from chalicelib.domain.errors import Conflict, NotFound, ValidationFailed
from chalicelib.domain.notices import Delivery
from chalicelib.engine.channel_senders import channel_context, open_url
from chalicelib.engine.notifier import Notifier
from chalicelib.engine.urlguard import UrlNotAllowed, static_check
from chalicelib.sealing.envelope import SealingError


def new_channel_id() -> str:
    return f"chn_{secrets.token_hex(8)}"


def get_channel(deps: Deps, tenant: Tenant, channel_id: str) -> Channel:
    """The tenant's channel, or NotFound (also for another tenant's id)."""
    found = deps.channels.get(tenant.id, channel_id)
    if found is None:
        raise NotFound("Channel not found")
    return found


def list_channels(deps: Deps, tenant: Tenant) -> list[Channel]:
    return deps.channels.list(tenant.id)


def create_channel(deps: Deps, tenant: Tenant, request: ChannelCreate) -> Channel:
    """A new channel, its URL sealed."""
    _check_url(deps, request.url)
    _check_jobs(deps, tenant, request.job_ids)
    if len(deps.channels.list(tenant.id)) >= MAX_CHANNELS:
        raise ValidationFailed.field("channels", f"A tenant has at most {MAX_CHANNELS} channels")
    now = deps.clock.now()
    channel = Channel(
        tenant_id=tenant.id,
        id=new_channel_id(),
        name=request.name,
        kind=request.kind,
        target=request.address or "",
        created_at=now,
        updated_at=now,
        job_ids=tuple(request.job_ids) if request.job_ids is not None else None,
        enabled=True if request.enabled is None else request.enabled,
    )
    if request.url is not None:
        channel = _sealed(deps, channel, request.url)
    return deps.channels.put(channel)


def update_channel(deps: Deps, tenant: Tenant, channel_id: str, request: ChannelUpdate) -> Channel:
    """Change the fields the request sets; the kind never changes."""
    current = get_channel(deps, tenant, channel_id)
    given = request.model_fields_set
    # The body is well formed; it is this channel's kind that takes the other target: 409.
    if "url" in given and current.kind not in URL_KINDS:
        raise Conflict(
            "url: an email channel has an address, not a URL",
            [{"field": "url", "message": "is not used by an email channel"}],
        )
    if "address" in given and current.kind in URL_KINDS:
        raise Conflict(
            f"address: a {current.kind} channel has a URL, not an address",
            [{"field": "address", "message": f"is not used by a {current.kind} channel"}],
        )
    _check_url(deps, request.url)
    if "job_ids" in given:
        _check_jobs(deps, tenant, request.job_ids)
    updated = replace(
        current,
        name=request.name or current.name,
        enabled=current.enabled if request.enabled is None else request.enabled,
        job_ids=(
            (tuple(request.job_ids) if request.job_ids is not None else None)
            if "job_ids" in given
            else current.job_ids
        ),
        target=request.address or current.target,
        updated_at=deps.clock.now(),
    )
    if request.url is not None:
        updated = _sealed(deps, updated, request.url)
    return deps.channels.put(updated)


def delete_channel(deps: Deps, tenant: Tenant, channel_id: str) -> None:
    deps.channels.delete(get_channel(deps, tenant, channel_id))


def test_channel(deps: Deps, tenant: Tenant, channel_id: str) -> Delivery:
    """Send a test notice now; the delivery with its one attempt (sent or failed)."""
    channel = get_channel(deps, tenant, channel_id)
    return Notifier(deps).test(channel)


def shown(deps: Deps, channel: Channel) -> str:
    """The channel's target as the API shows it (a URL masked to its scheme and host)."""
    if channel.kind not in URL_KINDS:
        return channel.target
    try:
        return shown_target(channel, open_url(deps, channel))
    except SealingError:
        return shown_target(channel)


def _sealed(deps: Deps, channel: Channel, url: str) -> Channel:
    sealed = deps.sealer.seal({"url": url}, channel_context(channel))["url"]
    return replace(channel, target=sealed)


def _check_url(deps: Deps, url: str | None) -> None:
    """What the sender would refuse, refused at save (names are resolved and checked again at
    every send, against the address actually connected to)."""
    if url is None:
        return
    check_no_mask(url)
    try:
        static_check(url, allow_private=deps.settings.allow_private_targets)
    except UrlNotAllowed as exc:
        raise ValidationFailed.field("url", exc.reason) from None


def _check_jobs(deps: Deps, tenant: Tenant, job_ids: list[str] | None) -> None:
    for index, job_id in enumerate(job_ids or []):
        if deps.jobs.get(tenant.id, job_id) is None:
            raise NotFound(
                f"Job {job_id} not found",
                [{"field": f"jobIds.{index}", "message": f"unknown job {job_id}"}],
            )
