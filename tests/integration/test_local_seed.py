"""Secrets of the local stack: admin token and the `default` tenant's key (in-process moto)."""

from __future__ import annotations

import os
from pathlib import Path

from chalicelib.deps import Deps
from chalicelib.local import seed
from chalicelib.services.accounts import authenticate


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_read_or_create_mints_once_and_keeps_it_private(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    minted = iter(["first-secret-0123456789", "second-secret-0123456789"])

    assert seed.read_or_create(path, lambda: next(minted)) == "first-secret-0123456789"
    assert seed.read_or_create(path, lambda: next(minted)) == "first-secret-0123456789"
    assert mode(path) == 0o600


def test_read_or_create_repairs_what_it_finds(tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_text("tiny\n")
    assert (
        seed.read_or_create(short, lambda: "fresh-secret-0123456789") == "fresh-secret-0123456789"
    )

    loose = tmp_path / "loose"
    loose.write_text("a-long-enough-secret-value\n")
    os.chmod(loose, 0o644)
    assert (
        seed.read_or_create(loose, lambda: "unused-0123456789012") == "a-long-enough-secret-value"
    )
    assert mode(loose) == 0o600


def test_admin_token_given_or_kept(tmp_path: Path) -> None:
    assert seed.admin_token(tmp_path, "from-env") == seed.Secret("from-env")
    assert not (tmp_path / seed.ADMIN_TOKEN_FILE).exists()

    kept = seed.admin_token(tmp_path, None)
    assert kept.file == tmp_path / seed.ADMIN_TOKEN_FILE and len(kept.value) >= 40
    assert seed.admin_token(tmp_path, None) == kept


def test_given_key_seeds_tenant_default(deps: Deps, tmp_path: Path) -> None:
    key = seed.default_tenant(deps, tmp_path, "cp_given_key_0123456789abc")

    assert key == seed.Secret("cp_given_key_0123456789abc")
    tenant, _ = authenticate(deps, key.value)
    assert tenant.id == "default"
    assert not (tmp_path / seed.API_KEY_FILE).exists()


def test_minted_key_is_kept_and_earlier_keys_stay_valid(deps: Deps, tmp_path: Path) -> None:
    given = seed.default_tenant(deps, tmp_path, "cp_given_key_0123456789abc")
    minted = seed.default_tenant(deps, tmp_path, None)
    again = seed.default_tenant(deps, tmp_path, None)

    assert minted.file == tmp_path / seed.API_KEY_FILE
    assert again == minted and minted.value.startswith("cp_")
    for key in (given.value, minted.value):
        assert authenticate(deps, key)[0].id == "default"
    assert len(deps.keys.list("default")) == 2
