"""Deployed stages bootstrap from Secrets Manager, never from defaults."""

import json

import pytest

from tests.conftest import basic


def test_bootstrap_from_the_admin_secret(api):
    import boto3

    from app import bootstrap
    from chalicelib.core.settings import get_settings

    sm = boto3.client("secretsmanager", region_name="us-east-1")
    sm.create_secret(Name=get_settings().admin_secret_id, SecretString=json.dumps(
        {"username": "ops", "clientId": "ops-client", "password": "from-secrets-manager-1"}))
    assert bootstrap({}, None)["bootstrapped"] == "true"
    login = api.post("/api/v1/auth/login", {"username": "ops",
                                            "password": "from-secrets-manager-1"})
    assert login.status_code == 200, login.body
    token = api.post("/api/v1/oauth/token", raw="grant_type=client_credentials",
                     headers={"Authorization": basic("ops-client", "from-secrets-manager-1"),
                              "Content-Type": "application/x-www-form-urlencoded"})
    assert token.status_code == 200, token.body
    assert token.json["scope"] == "admin"


def test_bootstrap_refuses_a_secret_without_password(api):
    import boto3

    from app import bootstrap
    from chalicelib.core.settings import get_settings

    sm = boto3.client("secretsmanager", region_name="us-east-1")
    sm.create_secret(Name=get_settings().admin_secret_id, SecretString='{"username": "x"}')
    with pytest.raises(RuntimeError):
        bootstrap({}, None)
    assert api.post("/api/v1/auth/login", {"username": "x", "password": "whatever-123"}
                    ).status_code == 401
    from tests.component.helpers import raw_item

    assert raw_item("USERNAME#x", "USERNAME") is None  # no user was made from it
