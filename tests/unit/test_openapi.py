"""The OpenAPI document is generated from the route registry and is valid."""

from openapi_spec_validator import validate

from chalicelib.http import routes


def test_document_is_valid_and_lists_every_route(api):
    resp = api.get("/api/docs/openapi.json")
    assert resp.status_code == 200
    doc = resp.json
    validate(doc)
    for (path, method) in routes.REGISTRY:
        assert method.lower() in doc["paths"][path], (method, path)


def test_scopes_and_security_per_operation(api):
    doc = api.get("/api/docs/openapi.json").json
    create = doc["paths"]["/api/v2/oauth/clients"]["post"]
    assert create["security"][0] == {"bearer": ["clients:manage"]}
    assert create["x-required-scopes"] == ["clients:manage"]
    assert "$ref" in create["requestBody"]["content"]["application/json"]["schema"]
    assert doc["paths"]["/api/v1/oauth/clients"]["post"]["deprecated"] is True
    assert doc["paths"]["/api/health"]["get"]["security"] == []


def test_yaml_variant_parses_as_the_same_document(api):
    import yaml

    resp = api.get("/api/docs/openapi.yaml")
    assert resp.status_code == 200
    assert yaml.safe_load(resp.body) == api.get("/api/docs/openapi.json").json


def test_resource_schemas_say_what_is_valid(api):
    doc = api.get("/api/docs/openapi.json").json
    params = {p["name"]: p for p in doc["paths"]["/api/v2/products/{product_id}"]["get"]
              ["parameters"]}
    assert "name" in params["fields"]["schema"]["pattern"]
    update = doc["components"]["schemas"]["CustomerUpdate"]["properties"]
    assert update["email"].get("type") == "string" and "anyOf" not in update["email"]
    assert any(s.get("type") == "null" for s in update["phone"]["anyOf"])  # optional field
    # A partial update needs at least one field (the API refuses {} with 400): said too.
    for name in ("CustomerUpdate", "ProductUpdate", "InventoryUpdate", "OrderUpdate"):
        assert doc["components"]["schemas"][name]["minProperties"] == 1, name
    assert doc["paths"]["/api/v1/customers/{customer_id}"]["put"]["requestBody"]["required"]


def test_idempotency_answers_documented_on_posts_without_body(api):
    """Idempotency-Key works on every POST, so its 409 and 422 are documented on each."""
    doc = api.get("/api/docs/openapi.json").json
    responses = doc["paths"]["/api/v1/webhooks/{webhook_id}/test"]["post"]["responses"]
    assert {"409", "422"} <= set(responses)
    # Writes are conditional: every PUT, PATCH and DELETE may answer 409.
    for path, ops in doc["paths"].items():
        for method in ("put", "patch", "delete"):
            if method in ops:
                assert "409" in ops[method]["responses"], (method, path)


def test_empty_idempotency_key_is_400(admin):
    resp = admin.post("/api/v1/roles", {"name": "idem-empty", "scopes": ["orders:read"]},
                      headers={"Idempotency-Key": ""})
    assert resp.status_code == 400 and resp.json["error"]["code"] == "VALIDATION_ERROR"
    assert admin.get("/api/v1/roles/idem-empty").status_code == 404
