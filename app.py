"""Gatehouse: the Chalice app. Wiring only; every capability lives in chalicelib/."""

from chalice import Chalice

from chalicelib.auth.api_keys import routes as api_key_routes
from chalicelib.auth.oauth import routes as oauth_routes
from chalicelib.auth.users import routes as user_routes
from chalicelib.docs import routes as docs_routes
from chalicelib.http import edge
from chalicelib.ops import health, logs

app = Chalice(app_name="gatehouse")
app.register_middleware(edge.middleware, "http")

for module in (health, oauth_routes, user_routes, api_key_routes, logs, docs_routes):
    app.register_blueprint(module.api.blueprint)


@app.lambda_function(name="bootstrap")
def bootstrap(event: dict, context: object) -> dict:
    """Run once after each deploy (idempotent): key material and the admin from
    Secrets Manager. `aws lambda invoke --function-name gatehouse-<stage>-bootstrap`."""
    from chalicelib.auth.bootstrap import bootstrap_from_secrets

    return bootstrap_from_secrets()
