"""Envelope encryption of short secret strings (secret header values).

One write seals its values with one fresh 256-bit data key: each value is encrypted with
AES-256-GCM under that key, and the data key itself is kept only wrapped by a keyring (AWS KMS
on AWS, a local key file for the local stack). A sealed value is one string,

    cpsealed:v1:<keyring>:<wrapped data key>:<nonce>:<ciphertext>   (parts base64url)

bound to its context (tenant, endpoint) and to its header name as GCM associated data, so a
sealed value copied to another endpoint, tenant or header does not open. Opened data keys are
remembered per process (bounded), so an executor asks KMS once per endpoint write, not per run.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chalicelib.domain.secret_headers import SEALED_PREFIX

PREFIX = SEALED_PREFIX
DATA_KEY_BYTES = 32
NONCE_BYTES = 12
OPENED_KEYS_KEPT = 1024

Context = Mapping[str, str]


class SealingError(Exception):
    """A value cannot be sealed or opened (keyring unreachable, wrong context, damaged value).
    The message never contains a secret."""


class Keyring(Protocol):
    """Makes and unwraps data keys; `name` is written into every sealed value."""

    name: str

    def generate(self, context: Context) -> tuple[bytes, bytes]:
        """A fresh data key: (plaintext, wrapped)."""
        ...

    def unwrap(self, wrapped: bytes, context: Context) -> bytes:
        """The plaintext of a data key this keyring wrapped under `context`."""
        ...


def is_sealed(value: str) -> bool:
    """Whether `value` is a sealed value (not a secret in clear)."""
    return value.startswith(PREFIX)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _aad(context: Context, name: str) -> bytes:
    return json.dumps({**context, "header": name.lower()}, sort_keys=True).encode()


class Sealer:
    """Seals and opens values with one keyring."""

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring
        self._opened: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def seal(self, values: Mapping[str, str], context: Context) -> dict[str, str]:
        """Each value sealed under one new data key, bound to `context` and its name."""
        if not values:
            return {}
        try:
            key, wrapped = self._keyring.generate(context)
        except SealingError:
            raise
        except Exception as exc:
            raise SealingError(f"could not get a data key ({type(exc).__name__})") from None
        aes = AESGCM(key)
        head = f"{PREFIX}{self._keyring.name}:{_b64(wrapped)}:"
        sealed = {}
        for name, value in values.items():
            nonce = os.urandom(NONCE_BYTES)
            ciphertext = aes.encrypt(nonce, value.encode(), _aad(context, name))
            sealed[name] = f"{head}{_b64(nonce)}:{_b64(ciphertext)}"
        return sealed

    def open(self, values: Mapping[str, str], context: Context) -> dict[str, str]:
        """`values` with every sealed one opened; values in clear pass through."""
        return {
            name: self._open_one(name, value, context) if is_sealed(value) else value
            for name, value in values.items()
        }

    def _open_one(self, name: str, value: str, context: Context) -> str:
        parts = value[len(PREFIX) :].split(":")
        if len(parts) != 4:
            raise SealingError(f"the sealed value of header {name!r} is damaged")
        keyring, wrapped_text, nonce_text, ciphertext_text = parts
        if keyring != self._keyring.name:
            raise SealingError(
                f"header {name!r} was sealed with the {keyring!r} keyring; "
                f"this stage has {self._keyring.name!r}"
            )
        try:
            wrapped, nonce = _unb64(wrapped_text), _unb64(nonce_text)
            ciphertext = _unb64(ciphertext_text)
        except (binascii.Error, ValueError):
            raise SealingError(f"the sealed value of header {name!r} is damaged") from None
        key = self._data_key(wrapped_text, wrapped, context)
        try:
            return AESGCM(key).decrypt(nonce, ciphertext, _aad(context, name)).decode()
        except (InvalidTag, ValueError):
            raise SealingError(f"header {name!r} does not open in this context") from None

    def _data_key(self, wrapped_text: str, wrapped: bytes, context: Context) -> bytes:
        cache_key = (wrapped_text, json.dumps(dict(context), sort_keys=True))
        with self._lock:
            if cache_key in self._opened:
                self._opened.move_to_end(cache_key)
                return self._opened[cache_key]
        try:
            key = self._keyring.unwrap(wrapped, context)
        except SealingError:
            raise
        except Exception as exc:
            raise SealingError(f"could not unwrap the data key ({type(exc).__name__})") from None
        with self._lock:
            self._opened[cache_key] = key
            while len(self._opened) > OPENED_KEYS_KEPT:
                self._opened.popitem(last=False)
        return key
