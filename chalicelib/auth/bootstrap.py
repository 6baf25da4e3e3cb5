"""Bootstrap: key material, the admin user and the admin OAuth client.

Idempotent; run by the local stack at start and by deployed stages once after deploy
(secrets then come from Secrets Manager, never from defaults). A secret or password not
given is generated and answered so the caller can print it once.
"""

from __future__ import annotations

import os

from chalicelib.auth import credentials, keyring
from chalicelib.core import ids
from chalicelib.core.settings import get_settings


def bootstrap(env: dict[str, str] | None = None) -> dict[str, str]:
    from chalicelib.auth.oauth import clients as oauth_clients
    from chalicelib.auth.oauth import repo as oauth_repo
    from chalicelib.auth.oauth.models import CreateClient
    from chalicelib.auth.users import service as users

    env = dict(os.environ if env is None else env)
    settings = get_settings()
    generated: dict[str, str] = {}
    keyring.ensure()

    username = env.get("GATEHOUSE_ADMIN_USERNAME") or settings.admin_username
    password = env.get("GATEHOUSE_ADMIN_PASSWORD") or ""
    if not password:
        password = ids.random_token(20)
        generated["GATEHOUSE_ADMIN_PASSWORD"] = password
    email = env.get("GATEHOUSE_ADMIN_EMAIL") or f"{username}@gatehouse.local"
    user_id = users.ensure_user(username, password, email, ["admin"])

    client_id = env.get("GATEHOUSE_ADMIN_CLIENT_ID") or settings.admin_client_id
    secret = env.get("GATEHOUSE_ADMIN_CLIENT_SECRET") or ""
    existing = oauth_repo.client_item(client_id)
    if not secret and existing is None:
        secret = "gcs_" + ids.random_token(40)
        generated["GATEHOUSE_ADMIN_CLIENT_SECRET"] = secret
    if existing is None:
        oauth_clients.create_client(
            None, CreateClient(name="Bootstrap admin client", scopes=["admin"],
                               tier="enterprise"),
            owner=user_id, client_id=client_id, secret=secret)
    elif secret and not credentials.same(str(existing.get("secretHash", "")),
                                         credentials.hash_secret(secret)):
        oauth_repo.set_client_secret(client_id, credentials.hash_secret(secret))
    return generated


def bootstrap_from_secrets() -> dict[str, str]:
    """Deployed stages: the admin's credentials come from Secrets Manager (the template's
    generated `<prefix>/admin` secret). Its password doubles as the client secret unless
    the secret also holds a `clientSecret`."""
    import json

    from chalicelib.core import aws

    raw = aws.client("secretsmanager").get_secret_value(
        SecretId=get_settings().admin_secret_id)["SecretString"]
    admin = json.loads(raw)
    if not admin.get("password"):
        raise RuntimeError("the admin secret has no password")
    env = {"GATEHOUSE_ADMIN_USERNAME": admin.get("username", "admin"),
           "GATEHOUSE_ADMIN_PASSWORD": admin["password"],
           "GATEHOUSE_ADMIN_CLIENT_ID": admin.get("clientId", "admin"),
           "GATEHOUSE_ADMIN_CLIENT_SECRET": admin.get("clientSecret") or admin["password"]}
    if admin.get("email"):
        env["GATEHOUSE_ADMIN_EMAIL"] = admin["email"]
    generated = bootstrap(env)
    return {"bootstrapped": "true", "generated": ",".join(sorted(generated))}
