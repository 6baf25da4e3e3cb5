"""The OpenAPI document is generated from the route registry and is valid."""

import json

from openapi_spec_validator import validate

from chalicelib.http import registry


def test_document_is_valid_and_lists_every_route(api):
    resp = api.get("/api/docs/openapi.json")
    assert resp.status_code == 200
    doc = resp.json
    validate(doc)
    for (path, method) in registry.REGISTRY:
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


def test_docs_page_lists_operations_and_works_offline(api):
    """/api/docs: one self-contained page (nothing fetched, no script) with every
    operation of the version by tag, its method, path, summary and scopes."""
    import re

    resp = api.client.http.get("/api/docs")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    page = resp.body.decode()
    assert "<script" not in page and not re.search(r"(src|href)=['\"]?https?:", page)
    assert "/api/docs/openapi.json" in page and "/api/docs/openapi.yaml" in page
    for (path, method), spec in registry.REGISTRY.items():
        if spec.version == "v1":
            continue
        row = page.split(f'id="{spec.name}"', 1)
        assert len(row) == 2, (method, path)
        cells = row[1].split("</tr>", 1)[0]
        assert f">{method}<" in cells and f"<code>{path}</code>" in cells, cells
        for scope in spec.scopes:
            assert scope in cells, (path, scope)
    assert 'id="create_order_v2"' in page and 'id="create_order_v1"' not in page
    v1 = api.client.http.get("/api/docs?version=v1").body.decode()
    assert 'id="create_order_v1"' in v1 and "(deprecated)" in v1
    assert api.get("/api/docs?version=v9").status_code == 400


def test_error_documentation_links_resolve_on_the_docs_page(api):
    """Each error's `documentation` is /api/docs#errors-<code>; the page has that entry
    for every code an answer can carry (the app's errors, the codes of Chalice's and of
    API Gateway's own answers), and the schema lists the same codes."""
    from chalicelib.core import errors
    from chalicelib.core.errors import ERROR_CODES, ERRORS
    from chalicelib.http import envelope
    from infra.template import GATEWAY_RESPONSES

    page = api.client.http.get("/api/docs").body.decode()
    assert "id=errors>" in page
    link = api.get("/api/v1/orders").json["error"]["documentation"]
    assert link == "/api/docs#errors-authentication-error"

    def subclasses(cls: type) -> set[type]:
        return {cls} | {s for sub in cls.__subclasses__() for s in subclasses(sub)}

    raised = {c.code for c in subclasses(errors.AppError)}
    codes = raised | set(ERROR_CODES.values()) | {c for _, c, _ in GATEWAY_RESPONSES.values()}
    assert codes == set(ERRORS)
    schema = api.get("/api/docs/openapi.json").json["components"]["schemas"]["Error"]
    assert set(schema["properties"]["error"]["properties"]["code"]["enum"]) == codes
    for code in codes:
        fragment = envelope.error_body(code, "m", "r")["error"]["documentation"]
        assert fragment.startswith("/api/docs#")
        assert f"id={fragment.split('#')[1]}>" in page, code


def test_order_address_documented_in_the_briefs_shape(api, admin):
    doc = api.get("/api/docs/openapi.json").json
    schemas = doc["components"]["schemas"]
    address = schemas["Address"]
    assert address["required"] == ["street", "city", "zip"]
    assert {"street", "city", "state", "zip", "country"} <= set(address["properties"])
    for alias in ("line1", "line2", "postalCode"):
        assert address["properties"][alias]["deprecated"] is True
    events = {e["type"]: e for e in admin.get("/api/v1/webhooks/events").json["data"]}
    example = events["order.created"]["example"]["data"]["shippingAddress"]
    assert set(example) == {"street", "city", "state", "zip", "country"}
    shown = events["order.created"]["schema"]
    assert "zip" in json.dumps(shown) and "postalCode" not in json.dumps(shown)


def test_an_import_documents_its_file_body_and_a_template_its_text(api, admin):
    """POST /imports reads its raw body: the document still says what it takes (so
    "try it out" and generated clients can send a file), and the example it gives is
    accepted as it stands."""
    doc = api.get("/api/docs/openapi.json").json
    body = doc["paths"]["/api/v2/imports"]["post"]["requestBody"]
    assert set(body["content"]) == {"text/csv", "application/json"}
    assert body["content"]["text/csv"]["schema"] == {"type": "string"}
    from tests.component.test_imports import empty_bucket

    try:
        for media, spec in body["content"].items():
            raw = spec["example"] if media == "text/csv" else json.dumps(spec["example"])
            sent = admin.post("/api/v2/imports?entity=products&dryRun=true", raw=raw,
                              headers={"Content-Type": media})
            assert sent.status_code == 202, sent.body
    finally:
        empty_bucket()  # the stack's teardown deletes the bucket, which must be empty
    template = doc["paths"]["/api/v2/imports/templates/{entity}"]["get"]["responses"]["200"]
    assert template["content"] == {"text/csv": {"schema": {"type": "string"}}}
