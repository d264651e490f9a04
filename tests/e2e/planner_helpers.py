"""Helpers for the planner e2e tests (tests/e2e/test_planner_patterns.py).

`Provider` is a loopback OpenAI-compatible Chat Completions server whose answers are routed by
the endpoint a session is about (the prompt's `- Name:` line). Each name can have a brain and
a fault queue of its own (a `FakeOpenAI` of tests/support/openai_server.py per name), so the
sessions of scenarios played at the same time never take each other's injected faults.
`Targets` is one loopback HTTP server playing every target endpoint: each path answers a JSON
body computed at request time from state the test changes while the stack runs.
`RuleModel` is the scripted model the patterns play: a rule per endpoint over the real tools.
`Api` is a REST client of the stack, one per scenario thread.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import httpx

from bench.scenarios.scripted import Call, Observation, Rule, tool_results
from chalicelib.domain.timeutil import parse_instant
from chalicelib.planner.model import ChatModel, Completion, ToolCallRequest, ToolChoice
from tests.e2e.conftest import HOST, Stack
from tests.support.openai_server import FakeOpenAI, listen

T = TypeVar("T")
_NAME = re.compile(r"^- Name: (.*)$", re.MULTILINE)
_NOW = re.compile(r"^Current time: (\S+)\. Analyse", re.MULTILINE)


class TimedOut(AssertionError):
    """A deadline passed while waiting for something the test expects to happen."""


def until(check: Callable[[], T | None], deadline_s: float, what: str, step_s: float = 0.5) -> T:
    """Poll `check` until it returns something other than None/False; that value. Every poll of
    the API costs the store work, hence the half-second default step."""
    deadline = time.monotonic() + deadline_s
    while True:
        value = check()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise TimedOut(f"timed out after {deadline_s:.0f} s waiting for {what}")
        time.sleep(step_s)


def ms(instant: str) -> int:
    """An API instant (`...Z`) as epoch milliseconds."""
    return round(datetime.fromisoformat(instant.replace("Z", "+00:00")).timestamp() * 1000)


# --- the model provider ----------------------------------------------------------------------


def session_endpoint(payload: dict[str, Any]) -> str:
    """The endpoint a Chat Completions request is about, from its prompt."""
    messages = payload.get("messages") or []
    prompt = messages[0].get("content") if messages else None
    found = _NAME.search(prompt) if isinstance(prompt, str) else None
    return found.group(1).strip() if found else ""


class Provider:
    """An OpenAI-compatible server on 127.0.0.1 answering each endpoint's sessions from the
    brain and faults routed to its name (the default brain otherwise)."""

    def __init__(self, default: ChatModel) -> None:
        self._default = FakeOpenAI(default)
        self._routes: dict[str, FakeOpenAI] = {}
        self._lock = threading.Lock()
        self._server, self.url = listen(self.answer)

    def route(self, name: str, brain: ChatModel | None = None) -> FakeOpenAI:
        """The fake serving endpoint `name` (created on first use, with `brain` or the default
        brain); queue faults on its `faults`, read what it was asked in its `requests`."""
        with self._lock:
            if name not in self._routes:
                self._routes[name] = FakeOpenAI(brain or self._default.brain)
            return self._routes[name]

    def prompts(self, name: str) -> list[str]:
        """The prompts of the sessions of endpoint `name` so far (first requests only)."""
        with self._lock:
            fakes = [self._routes.get(name, self._default)]
        return [
            r["messages"][0]["content"]
            for fake in fakes
            for r in list(fake.requests)
            if len(r["messages"]) == 1 and session_endpoint(r) == name
        ]

    def answer(self, payload: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self._lock:
            fake = self._routes.get(session_endpoint(payload), self._default)
        return fake.answer(payload)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def completion(
    calls: list[tuple[str, str]], content: str | None = None, input_tokens: int = 100
) -> Completion:
    """A model step with tool calls whose arguments are given as raw text (possibly not JSON)."""
    requests = tuple(ToolCallRequest(f"call_{i}", name, raw) for i, (name, raw) in enumerate(calls))
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if requests:
        message["tool_calls"] = [
            {"id": r.id, "type": "function", "function": {"name": r.name, "arguments": r.arguments}}
            for r in requests
        ]
    return Completion(
        message=message,
        tool_calls=requests,
        finish_reason="tool_calls" if requests else "stop",
        input_tokens=input_tokens,
        output_tokens=len(json.dumps(message)) // 4,
        content=content,
    )


def steps_done(messages: list[dict[str, Any]]) -> int:
    return sum(1 for m in messages if m.get("role") == "assistant")


def model_steps(messages: list[dict[str, Any]]) -> int:
    """The model's own replies so far: the session's context reads are not one of them."""
    return sum(
        1
        for m in messages
        if m.get("role") == "assistant"
        and not all(c["id"].startswith("context_") for c in m.get("tool_calls") or [{"id": ""}])
    )


READS: list[Call] = [
    ("get_latest_response", {}),
    ("get_response_history", {"limit": 1, "includeBodies": True}),
    ("get_sibling_latest_responses", {"includeResponses": True}),
]


class RuleModel:
    """Plays one rule per endpoint name over the real tool loop, like ScriptedModel
    (bench/scenarios/scripted.py): given the session's context reads (an assistant turn already
    made), it calls what the rule decides, ending with submit_analysis; a session run without
    them gets READS first. One difference, what a careful model does: while the newest run
    is still in flight (no body yet) it goes by the newest finished one, from the history. A
    sibling read mid-run has no body; the rule sees None for it and must not act on that."""

    def __init__(self, rules: dict[str, Rule]) -> None:
        self.rules = rules

    def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], tool_choice: ToolChoice
    ) -> Completion:
        prompt = str(messages[0]["content"])
        tokens = sum(len(json.dumps(m, default=str)) for m in messages) // 4
        step, forced = steps_done(messages), isinstance(tool_choice, dict)
        if step == 0 and not forced:
            calls = READS
        else:
            seen = self.observe(prompt, messages)
            rule = self.rules.get(seen.endpoint_name)
            calls = rule(seen) if rule is not None and step == 1 and not forced else []
            if not calls or calls[-1][0] != "submit_analysis":
                calls = [*calls, ("submit_analysis", {"reasoning": "No rule applies: no action"})]
        return completion([(n, json.dumps(a)) for n, a in calls], input_tokens=tokens)

    @staticmethod
    def observe(prompt: str, messages: list[dict[str, Any]]) -> Observation:
        results = tool_results(messages)
        latest = results.get("get_latest_response") or {}
        body = latest.get("responseBody") if latest.get("status") not in (None, "running") else None
        if body is None:
            finished = (results.get("get_response_history") or {}).get("responses") or []
            body = finished[0].get("responseBody") if finished else None
        siblings = (results.get("get_sibling_latest_responses") or {}).get("siblings") or []
        name, now = _NAME.search(prompt), _NOW.search(prompt)
        return Observation(
            endpoint_name=name.group(1).strip() if name else "",
            now=parse_instant(now.group(1)) if now else parse_instant("1970-01-01T00:00:00Z"),
            latest=body,
            siblings={
                s["endpointName"]: s.get("responseBody") if s.get("status") != "running" else None
                for s in siblings
            },
            prompt=prompt,
            sibling_ids={s["endpointName"]: s["endpointId"] for s in siblings},
        )


# --- the targets -----------------------------------------------------------------------------


Answer = Callable[[], Any]


class Targets:
    """One loopback server for every target: `path -> answer()`, a JSON body (status 200), or
    `(status, body)`. Each request is recorded with its path and arrival time."""

    def __init__(self) -> None:
        self._answers: dict[str, Answer] = {}
        self._hits: list[tuple[str, float]] = []
        self._lock = threading.Lock()
        targets = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                arrived = time.time()
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                with targets._lock:
                    targets._hits.append((self.path, arrived))
                    answer = targets._answers.get(self.path)
                status, body = 404, {"error": "no such target"}
                if answer is not None:
                    value = answer()
                    status, body = value if isinstance(value, tuple) else (200, value)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _any  # noqa: N815

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._server.daemon_threads = True
        self._base = f"http://{HOST}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def serve(self, path: str, answer: Answer) -> str:
        """Answer requests to `path` with `answer()`; the target's URL."""
        with self._lock:
            self._answers[path] = answer
        return self._base + path

    def hits(self, path: str) -> list[float]:
        with self._lock:
            return [at for p, at in self._hits if p == path]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# --- the API ---------------------------------------------------------------------------------


class Api:
    """The stack's REST API with the tenant's key; one per thread (its own connections)."""

    def __init__(self, stack: Stack) -> None:
        self._http = httpx.Client(
            base_url=stack.base_url, trust_env=False, timeout=20.0, headers=stack.headers()
        )
        self.jobs: list[str] = []
        self.endpoints: list[dict[str, Any]] = []

    def get(self, path: str) -> Any:
        reply = self._http.get(path)
        assert reply.status_code == 200, f"GET {path}: {reply.status_code} {reply.text}"
        return reply.json()

    def post(self, path: str, body: Any, status: int) -> Any:
        reply = self._http.post(path, content=json.dumps(body))
        assert reply.status_code == status, f"POST {path}: {reply.status_code} {reply.text}"
        return reply.json() if reply.content else None

    def create_job(self, name: str, description: str | None = None) -> str:
        body = {"name": name, **({"description": description} if description else {})}
        job_id: str = self.post("/jobs", body, 201)["id"]
        self.jobs.append(job_id)
        return job_id

    def create_endpoint(self, job_id: str, body: dict[str, Any]) -> dict[str, Any]:
        endpoint: dict[str, Any] = self.post(f"/jobs/{job_id}/endpoints", body, 201)
        self.endpoints.append(endpoint)
        return endpoint

    def endpoint(self, endpoint: dict[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = self.get(f"/jobs/{endpoint['jobId']}/endpoints/{endpoint['id']}")
        return found

    def runs(self, endpoint: dict[str, Any]) -> list[dict[str, Any]]:
        """Finished runs, oldest first."""
        page = self.get(f"/endpoints/{endpoint['id']}/runs?limit=100")
        assert page["total"] <= 100, "more runs than one page"
        done = [r for r in page["runs"] if r["status"] != "running"]
        return sorted(done, key=lambda r: (r["startedAt"], r["id"]))

    def sessions(self, endpoint: dict[str, Any]) -> list[dict[str, Any]]:
        """Analysis sessions, oldest first."""
        page = self.get(f"/endpoints/{endpoint['id']}/sessions?limit=50")
        return sorted(page["sessions"], key=lambda s: (s["analyzedAt"], s["id"]))

    def close(self) -> None:
        """Take this client's jobs out of the schedule, then close the connections."""
        for job_id in self.jobs:
            self._http.post(f"/jobs/{job_id}/pause", content="{}")
        self._http.close()
