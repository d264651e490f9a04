"""Cronpilot's Chalice app: wiring only. Route logic lives in chalicelib/api, use cases in
chalicelib/services, decisions in chalicelib/domain."""

from typing import Any

from chalice.app import Chalice, CloudWatchEvent, Rate, SQSEvent

from chalicelib import observability
from chalicelib.api import (
    accounts,
    alerts,
    controls,
    dashboard,
    endpoints,
    execution,
    jobs,
    middleware,
    observe,
    reflexes,
    signing_keys,
    system,
)
from chalicelib.engine import handlers, notify
from chalicelib.settings import get_settings
from chalicelib.web import routes as web

# configure_logs=False: Chalice would otherwise pin the "cronpilot" logger to ERROR without
# propagation, silencing every cronpilot.* warning.
app = Chalice(app_name="cronpilot", configure_logs=False)

for router in (
    system,
    jobs,
    endpoints,
    execution,
    controls,
    reflexes,
    observe,
    accounts,
    dashboard,
    signing_keys,
    alerts,
):
    app.register_blueprint(router.api.blueprint)
# The web dashboard (/api/ui): its own sign-in cookie, same services.
app.register_blueprint(web.bp)
middleware.register(app)


@app.schedule(Rate(1, unit=Rate.MINUTES), name="dispatch")
def dispatch(event: CloudWatchEvent) -> dict[str, Any]:
    """Put due slots in flight and sweep zombies (locally every CRONPILOT_DISPATCH_PERIOD_S)."""
    with observability.invocation("dispatch", request_id=observability.request_id(event.context)):
        return handlers.on_dispatch_tick()


@app.on_sqs_message(queue=get_settings().runs_queue_name, batch_size=10, name="execute")
def execute(event: SQSEvent) -> dict[str, Any]:
    """Execute the slots of one batch, concurrently."""
    with observability.invocation("execute", request_id=observability.request_id(event.context)):
        return handlers.on_runs_batch(event.to_dict())


@app.schedule(Rate(5, unit=Rate.MINUTES), name="analyze")
def analyze(event: CloudWatchEvent) -> dict[str, Any]:
    """Send jobs due for analysis to the analysis queue (locally every
    CRONPILOT_ANALYSIS_PERIOD_S)."""
    with observability.invocation("analyze", request_id=observability.request_id(event.context)):
        return handlers.on_analysis_tick()


@app.on_sqs_message(queue=get_settings().analysis_queue_name, batch_size=1, name="analyzer")
def analyzer(event: SQSEvent) -> dict[str, Any]:
    """Analyse one job: a session per due endpoint, hints written through scheduling."""
    with observability.invocation("analyzer", request_id=observability.request_id(event.context)):
        return handlers.on_analysis_batch(event.to_dict())


@app.on_sqs_message(queue=get_settings().notifications_queue_name, batch_size=10, name="notifier")
def notifier(event: SQSEvent) -> dict[str, Any]:
    """Send incident notices to their channels, each (event, channel) exactly once."""
    with observability.invocation("notifier", request_id=observability.request_id(event.context)):
        return notify.on_notices_batch(event.to_dict())
