"""The receiver snippet in the README must verify what the signer produces."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from chalicelib.domain.signing import signed_headers

README = Path(__file__).resolve().parents[2] / "README.md"


def _snippet() -> Any:
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S)
    assert code is not None, "README lost its receiver example"
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), "README.md", "exec"), namespace)
    return namespace["is_from_cronpilot"]


def test_readme_receiver_accepts_signed_requests_and_rejects_others() -> None:
    check = _snippet()
    key, body = "ab" * 32, '{"status":"ok","é":1}'
    now = int(time.time())
    headers = signed_headers(key, now, body)
    assert check(key, headers, body.encode())
    assert not check("cd" * 32, headers, body.encode())
    assert not check(key, headers, b'{"status":"tampered"}')
    assert not check(key, signed_headers(key, now - 3600, body), body.encode())
    assert not check(key, {}, body.encode())
