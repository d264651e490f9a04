"""Cronpilot's Chalice app: wiring only. Route logic lives in chalicelib/api, use cases in
chalicelib/services, decisions in chalicelib/domain."""

from chalice.app import Chalice

from chalicelib.api import (
    accounts,
    controls,
    dashboard,
    endpoints,
    execution,
    jobs,
    middleware,
    observe,
    signing_keys,
    system,
)

# configure_logs=False: Chalice would otherwise pin the "cronpilot" logger to ERROR without
# propagation, silencing every cronpilot.* warning.
app = Chalice(app_name="cronpilot", configure_logs=False)

for router in (
    system,
    jobs,
    endpoints,
    execution,
    controls,
    observe,
    accounts,
    dashboard,
    signing_keys,
):
    app.register_blueprint(router.api.blueprint)
middleware.register(app)
