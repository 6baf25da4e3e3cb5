"""Imports refused or explained as a person reading them needs: files without rows,
malformed JSON bodies, a refused upload's reason said once, row messages without
regular expressions."""

from __future__ import annotations

import pytest

from tests.component.helpers import assert_error, snapshot
from tests.component.test_imports import (  # noqa: F401 - _empty_bucket is autouse
    V,
    _empty_bucket,
    finished,
    start,
    upload,
)
from tests.conftest import Api


@pytest.mark.parametrize(("body", "media"), [
    (b"sku,name,price,category,description\r\n", "text/csv"),   # the template, unfilled
    (b"sku,name,price\r\n,,\r\n", "text/csv"),                  # blank rows only
    (b" [ ] ", "application/json"),
    (b'{"type": "products", "data": []}', "application/json"),
])
def test_a_file_without_rows_answers_422(admin: Api, body: bytes, media: str) -> None:
    before = snapshot()
    err = assert_error(admin.post(f"{V}/imports?entity=products", raw=body,
                                  headers={"Content-Type": media}), 422, "VALIDATION_ERROR")
    assert err["message"].startswith("The file has no rows")
    assert [k for k in snapshot() if k not in before and k[0].startswith("JOB#")] == []


@pytest.mark.parametrize("body", [b"{bad", b'{"type": "products", "data": [}',
                                  b'\xef\xbb\xbf{"data": \xff}'])
def test_a_malformed_json_object_body_is_a_400_as_every_json_body(admin: Api,
                                                                  body: bytes) -> None:
    err = assert_error(admin.post(f"{V}/imports?entity=products", raw=body,
                                  headers={"Content-Type": "application/json"}),
                       400, "VALIDATION_ERROR")
    assert err["message"] == "The request body is not valid JSON."
    assert err["details"][0]["field"] == "body"


@pytest.mark.parametrize(("body", "fmt", "message"), [
    (b"sku,name,colour\r\nMUG-01,Mug,red\r\n", "csv",   # colour unknown, price missing
     "The file cannot be imported: 2 problems."),
    (b"sku,name,price\r\n", "csv", "The file cannot be imported: The file has no rows: "
                                    "only a header."),
    (b"[]", "json", "The file cannot be imported: The file has no rows: an empty array."),
])
def test_an_uploaded_file_refused_says_why_once(admin: Api, body: bytes, fmt: str,
                                                 message: str) -> None:
    job = start(admin, b"", f"entity=products&uploadId={upload(admin, body, fmt)}")
    done = finished(admin, job["id"])
    assert done["status"] == "failed" and done["failure"]["code"] == "VALIDATION_ERROR"
    assert done["failure"]["message"] == message


def test_a_pattern_mismatch_names_the_value_not_the_regular_expression(admin: Api) -> None:
    rows = '[{"email": "not-an-email", "name": "A"}, {"email": "b@example.com", "name": "B"}]'
    done = finished(admin, start(admin, rows, "entity=customers",
                                 {"Content-Type": "application/json"})["id"])
    assert done["errors"] == [{"row": 1, "field": "email",
                               "message": "'not-an-email' is not a valid email."}]
    skus = "sku,name,price\r\nA B,Spaced,1.00\r\n"
    done = finished(admin, start(admin, skus)["id"])
    assert done["errors"][0]["message"] == "'A B' is not a valid sku."
