"""The API matches its OpenAPI document: schemathesis against a fresh local stack.

Coverage, fuzzing and stateful phases with every check, a bounded number of examples per
operation and deterministic generation, so a run is the same every time and fits in about a
minute on two cores. The cron format and the one cross-field rule JSON Schema cannot state
are taught to the fuzzer in schemathesis_hooks.py; schemathesis.toml says why the stateful
phase follows the document's own links only.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.e2e.conftest import HOST, Stack, clean_env

HERE = Path(__file__).resolve().parent
MAX_EXAMPLES = 10
# Limits far above what the fuzzer sends: it must see the API's answers, not 429s.
UNLIMITED = {
    "CRONPILOT_RATE_LIMIT_MUTATIONS_PER_MIN": "1000000",
    "CRONPILOT_RATE_LIMIT_READS_PER_MIN": "1000000",
    "CRONPILOT_RATE_LIMIT_TESTS_PER_MIN": "1000000",
}
# Guards a hung run only; the run takes about a minute.
HANG_GUARD_S = 600


def test_the_api_answers_as_its_document_says(launch: Callable[..., Stack], tmp_path: Path) -> None:
    stack = launch(**UNLIMITED)
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(HERE / "schemathesis.toml"),
        "run",
        f"{stack.base_url}/doc",
        "--checks",
        "all",
        "--phases",
        "coverage,fuzzing,stateful",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-deterministic",
        "--workers",
        "2",
        "--header",
        f"x-api-key: {stack.api_key}",
        "--no-color",
    ]
    env = clean_env(PYTHONPATH=str(HERE), SCHEMATHESIS_HOOKS="schemathesis_hooks", NO_PROXY=HOST)
    done = subprocess.run(
        command,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-20_000:] + done.stderr[-5_000:]
    for phase in ("Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in done.stdout, done.stdout[-3_000:]
    counts = re.search(r"(\d+) generated, (\d+) passed", done.stdout)
    assert counts is not None, done.stdout[-3_000:]
    assert int(counts[1]) == int(counts[2]) > 1000
