"""Build the one deployable template: `chalice package` merged with infra/resources.json
(tables, queues) and infra/deploy.json (event-source wiring, alarms).

`python -m chalicelib.infra.package --stage dev` (build/package-dev/) runs offline: it needs
the package index for the Lambda wheels, never an AWS account.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from chalicelib.infra import INFRA_DIR, load_template

ROOT = INFRA_DIR.parent
DEPLOY_FILE = INFRA_DIR / "deploy.json"


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`extra` laid over `base`, dictionaries merged key by key (as chalice merges)."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def merge_template() -> dict[str, Any]:
    """Resources and deploy-only additions as one merge template."""
    return deep_merge(load_template(), json.loads(DEPLOY_FILE.read_text()))


def wire_event_sources(template: dict[str, Any], resources: dict[str, Any]) -> None:
    """Point each SQS event source at the stack's own queue (chalice names it by the queue
    name the app was packaged with) and turn on partial-batch responses, which the handlers
    return (`batchItemFailures`); without them Lambda would delete a failed message."""
    by_suffix = {
        str(r["Properties"]["QueueName"]["Fn::Sub"]).removeprefix("${AWS::StackName}"): logical
        for logical, r in resources["Resources"].items()
        if r["Type"] == "AWS::SQS::Queue"
    }
    for resource in template["Resources"].values():
        for event in (resource.get("Properties", {}).get("Events") or {}).values():
            if event.get("Type") != "SQS":
                continue
            props = event["Properties"]
            named = (
                str(props["Queue"].get("Fn::Sub", "")) if isinstance(props["Queue"], dict) else ""
            )
            suffix = "-" + named.rsplit("-", 1)[-1]
            if suffix not in by_suffix:
                raise ValueError(f"no queue in infra/resources.json for {named!r}")
            props["Queue"] = {"Fn::GetAtt": [by_suffix[suffix], "Arn"]}
            props["FunctionResponseTypes"] = ["ReportBatchItemFailures"]


ANY_METHOD = "x-amazon-apigateway-any-method"


def route_other_methods(template: dict[str, Any]) -> None:
    """Send every method a path does not declare to the API function too, so it answers 405
    in the error envelope with an `Allow` header (Chalice's own answer, through the
    middleware), like the local stack; API Gateway would otherwise answer 403, turned into
    404 by the gateway response for unknown routes. Declared methods take precedence."""
    paths = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    for operations in paths.values():
        declared = [op for op in operations.values() if isinstance(op, dict)]
        integration = next(
            op["x-amazon-apigateway-integration"]
            for op in declared
            if "x-amazon-apigateway-integration" in op
        )
        operations[ANY_METHOD] = {
            "consumes": ["*/*"],
            "produces": ["application/json"],
            "responses": {"405": {"description": "Method not allowed"}},
            "x-amazon-apigateway-integration": integration,
        }


def package(stage: str, out: Path) -> Path:
    """Run `chalice package` for `stage` into `out`; the path of the SAM template."""
    out.mkdir(parents=True, exist_ok=True)
    merge_file = out.parent / f"merge-{stage}.json"
    merge_file.write_text(json.dumps(merge_template(), indent=2))
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    chalice = Path(sys.executable).with_name("chalice")
    # Our own venv's chalice with fixed arguments; the stage name is the only input.
    subprocess.run(  # noqa: S603
        [str(chalice), "package", "--stage", stage, "--merge-template", str(merge_file), str(out)],
        cwd=ROOT,
        env=env,
        check=True,
    )
    sam = out / "sam.json"
    template = json.loads(sam.read_text())
    wire_event_sources(template, load_template())
    route_other_methods(template)
    sam.write_text(json.dumps(template, indent=2))
    return sam


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--out", default=None, help="default: build/package-<stage>")
    args = parser.parse_args(argv)
    template = package(args.stage, ROOT / (args.out or f"build/package-{args.stage}"))
    print(f"packaged {args.stage}: {template.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
