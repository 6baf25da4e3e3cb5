"""Gatehouse: the Chalice app. Wiring only; every capability lives in chalicelib/."""

from typing import Any

from chalice import Chalice, Rate

from chalicelib.auth.api_keys import routes as api_key_routes
from chalicelib.auth.oauth import routes as oauth_routes
from chalicelib.auth.users import routes as user_routes
from chalicelib.core.logging import lambda_handler
from chalicelib.core.settings import get_settings
from chalicelib.docs import routes as docs_routes
from chalicelib.edge import middleware as edge
from chalicelib.exchange.exports import routes as export_routes
from chalicelib.exchange.exports.schedules import routes as export_schedule_routes
from chalicelib.exchange.imports import routes as import_routes
from chalicelib.integrations import inbound_routes, push_routes, sync_routes
from chalicelib.integrations import routes as integration_routes
from chalicelib.notifications import routes as notification_routes
from chalicelib.ops import health, logs
from chalicelib.resources import routes as resource_routes
from chalicelib.webhooks import routes as webhook_routes
from chalicelib.webhooks.delivery import routes as delivery_routes

app = Chalice(app_name="gatehouse")
app.register_middleware(edge.middleware, "http")
# Binary answers (an XLSX import template) pass API Gateway base64-encoded.
app.api.binary_types.append(
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

for module in (health, oauth_routes, user_routes, api_key_routes, logs, docs_routes,
               resource_routes, webhook_routes, delivery_routes, export_routes, import_routes):
    app.register_blueprint(module.api.blueprint)
app.register_blueprint(export_schedule_routes.api.blueprint)
app.register_blueprint(notification_routes.api.blueprint)
# POST /notifications/send with a connectionId: that connection's settings.
notification_routes.connection_options_from("chalicelib.integrations.messaging:options_for")
app.register_blueprint(inbound_routes.api.blueprint)
app.register_blueprint(integration_routes.api.blueprint)
app.register_blueprint(sync_routes.api.blueprint)
app.register_blueprint(push_routes.api.blueprint)

_settings = get_settings()  # names only: no I/O at import


@app.on_sqs_message(queue=_settings.queue_name("events"), batch_size=10)
@lambda_handler
def fan_out(event: Any) -> dict:
    """Each event becomes one delivery per subscribed, active webhook and one push per
    subscribed, active integration; platform events also become in-app notifications of
    their owner (all idempotent per event)."""
    from chalicelib.integrations import push_fanout
    from chalicelib.notifications import inapp
    from chalicelib.webhooks import worker

    batch = event.to_dict()
    return inapp.merge_failures(worker.fan_out_batch(batch),
                                inapp.from_events(batch) + push_fanout.from_events(batch))


@app.on_sqs_message(queue=_settings.queue_name("pushes"), batch_size=10)
@lambda_handler
def push_events(event: Any) -> dict:
    """Integrations' event pushes, concurrently within the batch; a failed push comes
    again after its backoff (chalicelib/integrations/push_worker.py)."""
    from chalicelib.integrations import push_worker

    return push_worker.process_batch(event.to_dict(), event.context)


@app.on_sqs_message(queue=_settings.queue_name("webhooks"), batch_size=10)
@lambda_handler
def deliver(event: Any) -> dict:
    """HTTP attempts, concurrently within the batch and the invocation's remaining time;
    failures reported per message. Timeout: .chalice/config.json (lambda_functions)."""
    from chalicelib.webhooks import worker

    return worker.deliver_batch(event.to_dict(), event.context)


@app.on_sqs_message(queue=_settings.queue_name("jobs"), batch_size=1)
@lambda_handler
def run_jobs(event: Any) -> dict:
    """Long work (exports, imports, syncs) as jobs: one message runs its job until done or
    until the invocation's time runs low, then continues in a new message (chalicelib/jobs)."""
    from chalicelib.jobs import worker

    job_kinds()
    return worker.process_batch(event.to_dict(), event.context)


def job_kinds() -> None:
    """Every kind of job registered (each module registers its kind on import): this
    function may run any of them, and the routes that would import them load lazily."""
    from chalicelib.exchange.exports import kind as _export  # noqa: F401
    from chalicelib.exchange.imports import kind as _import  # noqa: F401
    from chalicelib.integrations import sync as _sync  # noqa: F401


@app.schedule(Rate(1, unit=Rate.MINUTES))
@lambda_handler
def every_minute(event: Any) -> dict:
    """Outbox sweep, deliveries due after long waits, failing-endpoint checks, due export
    schedules, due integration syncs, pushes stuck pending (their messages dead-lettered)."""
    from chalicelib.exchange.exports.schedules import tick
    from chalicelib.integrations import push_worker, sync_schedule
    from chalicelib.webhooks import worker

    out = worker.every_minute()
    out["exportSchedules"] = tick.run_due(getattr(event, "context", None))
    out["syncSchedules"] = sync_schedule.run_due()
    out["stuckPushes"] = push_worker.sweep_stuck()
    return out


@app.lambda_function(name="bootstrap")
@lambda_handler
def bootstrap(event: dict, context: object) -> dict:
    """Run once after each deploy (idempotent): key material and the admin from
    Secrets Manager. `aws lambda invoke --function-name gatehouse-<stage>-bootstrap`."""
    from chalicelib.auth.bootstrap import bootstrap_from_secrets

    return bootstrap_from_secrets()
