"""Where data keys come from: AWS KMS on AWS, a key file for the local stack.

The KMS key is declared in infra/deploy.json and named by `CRONPILOT_SECRETS_KMS_ALIAS` (its
alias); the functions may only use it through that alias (chalicelib/infra/policies.py). The
local key file (`$CRONPILOT_HOME/secrets.key` by default) is created on first use with mode
0600; losing it makes the secret header values sealed with it unreadable.
"""

from __future__ import annotations

import base64
import os
import threading
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chalicelib.sealing.envelope import (
    DATA_KEY_BYTES,
    NONCE_BYTES,
    Context,
    Keyring,
    SealingError,
)
from chalicelib.settings import Settings


class KmsKeyring:
    """Data keys from AWS KMS `GenerateDataKey`, unwrapped with `Decrypt`, both with the
    context as KMS encryption context (so CloudTrail shows which endpoint a call was for)."""

    name = "kms"

    def __init__(self, key_id: str, region: str, client: Any = None) -> None:
        self._key_id = key_id
        self._region = region
        self._client = client

    def _kms(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("kms", region_name=self._region)
        return self._client

    def generate(self, context: Context) -> tuple[bytes, bytes]:
        """A 256-bit data key: (plaintext, KMS ciphertext blob)."""
        answer = self._kms().generate_data_key(
            KeyId=self._key_id, KeySpec="AES_256", EncryptionContext=dict(context)
        )
        return bytes(answer["Plaintext"]), bytes(answer["CiphertextBlob"])

    def unwrap(self, wrapped: bytes, context: Context) -> bytes:
        """The data key's plaintext; only the configured key may decrypt it."""
        answer = self._kms().decrypt(
            CiphertextBlob=wrapped, KeyId=self._key_id, EncryptionContext=dict(context)
        )
        return bytes(answer["Plaintext"])


class LocalKeyring:
    """Data keys wrapped with AES-256-GCM under a 256-bit key kept in a file."""

    name = "local"

    def __init__(self, path: Path) -> None:
        self._path = path
        self._key: bytes | None = None
        self._lock = threading.Lock()

    def _master(self) -> bytes:
        with self._lock:
            if self._key is None:
                self._key = _read_or_create(self._path)
            return self._key

    def generate(self, context: Context) -> tuple[bytes, bytes]:
        """A random data key and its wrapping (nonce + ciphertext) under the file's key."""
        key = os.urandom(DATA_KEY_BYTES)
        nonce = os.urandom(NONCE_BYTES)
        return key, nonce + AESGCM(self._master()).encrypt(nonce, key, _aad(context))

    def unwrap(self, wrapped: bytes, context: Context) -> bytes:
        """The data key, if it was wrapped by this file's key under `context`."""
        nonce, ciphertext = wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:]
        try:
            return AESGCM(self._master()).decrypt(nonce, ciphertext, _aad(context))
        except (InvalidTag, ValueError):
            raise SealingError("the data key does not open with the local key file") from None


def _aad(context: Context) -> bytes:
    return "&".join(f"{k}={v}" for k, v in sorted(context.items())).encode()


def _read_or_create(path: Path) -> bytes:
    try:
        return _decode(path.read_text())
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = base64.b64encode(os.urandom(DATA_KEY_BYTES)).decode() + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _decode(path.read_text())  # another process created it first: use theirs
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return _decode(text)


def _decode(text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        key = b""
    if len(key) != DATA_KEY_BYTES:
        raise SealingError("the local secrets key file is not a base64 256-bit key")
    return key


def keyring_for(settings: Settings) -> Keyring:
    """KMS when the stage names a key, else the local key file."""
    if settings.secrets_kms_alias:
        return KmsKeyring(settings.secrets_kms_alias, settings.region)
    return LocalKeyring(Path(settings.secrets_key_file))
