"""Which headers are secret, how they are shown, and the envelope that seals them (with the
local key file; tests/integration/test_secret_headers.py runs it with moto's KMS)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from chalicelib.domain.secret_headers import MASK, is_secret, mask, masked_names
from chalicelib.sealing.envelope import Sealer, SealingError, is_sealed
from chalicelib.sealing.keyrings import KmsKeyring, LocalKeyring, keyring_for
from chalicelib.settings import Settings

CONTEXT = {"tenantId": "t1", "endpointId": "ep_1"}


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "cookie",
        "PROXY-AUTHORIZATION",
        "X-Api-Key",
        "apikey",
        "X-Auth-Token",
        "X-Client-Secret",
        "X-Custom-Auth",
        "x-amz-security-token",
    ],
)
def test_secret_by_name(name: str) -> None:
    assert is_secret(name)


@pytest.mark.parametrize("name", ["Accept", "Content-Type", "X-Team", "User-Agent", "Set"])
def test_not_secret_by_name(name: str) -> None:
    assert not is_secret(name)
    assert is_secret(name, marked=[name.upper()])  # unless the user marks it, in any case


def test_mask_hides_secret_and_sealed_values_only() -> None:
    headers = {"Authorization": "Bearer x", "X-Team": "ops", "X-Was-Marked": "cpsealed:v1:..."}
    shown = mask(headers, marked=(), sealed=["X-Was-Marked"])
    assert shown == {"Authorization": MASK, "X-Team": "ops", "X-Was-Marked": MASK}
    assert masked_names(headers, (), ["X-Was-Marked"]) == ["Authorization", "X-Was-Marked"]
    assert mask(None, ()) is None


@pytest.fixture
def sealer(tmp_path: Path) -> Sealer:
    return Sealer(LocalKeyring(tmp_path / "home" / "secrets.key"))


def test_sealed_values_open_in_their_context_only(sealer: Sealer, tmp_path: Path) -> None:
    sealed = sealer.seal({"Authorization": "Bearer test-fake", "X-Key": "k"}, CONTEXT)
    assert all(is_sealed(v) and v.startswith("cpsealed:v1:local:") for v in sealed.values())
    assert "test-fake" not in "".join(sealed.values())
    assert sealer.open({**sealed, "Accept": "*/*"}, CONTEXT) == {
        "Authorization": "Bearer test-fake",
        "X-Key": "k",
        "Accept": "*/*",
    }
    with pytest.raises(SealingError):
        sealer.open(sealed, {**CONTEXT, "endpointId": "ep_2"})
    with pytest.raises(SealingError):  # moved to another header name
        sealer.open({"X-Other": sealed["Authorization"]}, CONTEXT)
    key_file = tmp_path / "home" / "secrets.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # Another process with the same key file opens them; the data key is not reused per write.
    again = Sealer(LocalKeyring(key_file))
    assert again.open(sealed, CONTEXT)["X-Key"] == "k"
    assert sealer.seal({"X-Key": "k"}, CONTEXT)["X-Key"] != sealed["X-Key"]


def test_damaged_or_foreign_values_do_not_open(sealer: Sealer, tmp_path: Path) -> None:
    sealed = sealer.seal({"Authorization": "Bearer test-fake"}, CONTEXT)["Authorization"]
    head, tail = sealed.rsplit(":", 1)
    flipped = head + ":" + ("A" if tail[0] != "A" else "B") + tail[1:]
    for bad in [flipped, "cpsealed:v1:local:only-two", sealed.replace(":local:", ":kms:")]:
        with pytest.raises(SealingError):
            sealer.open({"Authorization": bad}, CONTEXT)
    stranger = Sealer(LocalKeyring(tmp_path / "other.key"))
    with pytest.raises(SealingError):
        stranger.open({"Authorization": sealed}, CONTEXT)


def test_a_broken_key_file_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "secrets.key"
    key_file.write_text("not a key\n")
    with pytest.raises(SealingError):
        Sealer(LocalKeyring(key_file)).seal({"Authorization": "x"}, CONTEXT)


def test_the_keyring_follows_the_settings(tmp_path: Path) -> None:
    local = Settings.from_env({"CRONPILOT_HOME": str(tmp_path)})
    assert local.secrets_kms_alias is None
    assert local.secrets_key_file == str(tmp_path / "secrets.key")
    assert isinstance(keyring_for(local), LocalKeyring)
    deployed = Settings.from_env({"CRONPILOT_SECRETS_KMS_ALIAS": "alias/cronpilot-dev-secrets"})
    assert isinstance(keyring_for(deployed), KmsKeyring)


def test_an_opened_request_never_shows_its_headers_in_a_repr() -> None:
    from chalicelib.engine.caller import CallRequest

    request = CallRequest(url="https://api.example.com/", headers={"Authorization": "Bearer zz9"})
    assert "zz9" not in repr(request)
