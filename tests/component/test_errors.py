"""Errors are declared once (core/errors.py): each class's status, code, message,
meaning and OAuth form reach every answer and the docs; AWS throttling answers 503."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.component.helpers import assert_error


def _throttled(*_a, **_k):
    raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException",
                                 "Message": "slow down"}}, "Query")


def test_throttled_dependency_is_503_with_retry_after(admin, monkeypatch):
    from chalicelib.auth.users import roles

    monkeypatch.setattr(roles, "list_roles", _throttled)
    resp = admin.get("/api/v1/roles")
    err = assert_error(resp, 503, "SERVICE_UNAVAILABLE")
    assert resp.headers["Retry-After"] == "1"
    assert "slow down" not in resp.body.decode()  # AWS's words stay inside
    assert err["documentation"] == "/api/docs#errors-service-unavailable"


def test_other_aws_errors_stay_500(admin, monkeypatch):
    from chalicelib.auth.users import roles

    def denied(*_a, **_k):
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}},
                          "Query")

    monkeypatch.setattr(roles, "list_roles", denied)
    assert_error(admin.get("/api/v1/roles"), 500, "INTERNAL_ERROR")


def test_chalice_own_405_speaks_with_the_declared_class(admin):
    from chalicelib.core.errors import MethodNotAllowed

    resp = admin.call("PATCH", "/api/v1/roles")
    err = assert_error(resp, 405, "METHOD_NOT_ALLOWED")
    assert err["message"] == MethodNotAllowed.default_message


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500,
                                    503])
def test_every_status_has_one_declared_class_and_docs(status):
    from chalicelib.core import errors

    cls = errors.ERROR_FOR_STATUS[status]
    assert cls.status == status and errors.ERROR_CODES[status] == cls.code
    statuses, meaning, remedy = errors.ERRORS[cls.code]
    assert str(status) in statuses.split(", ") and meaning and remedy


def test_oauth_forms_come_from_the_classes():
    from chalicelib.core import errors
    from chalicelib.http.registry import as_oauth_error

    expected = {errors.ValidationFailed: ("invalid_request", 400),
                errors.Unprocessable: ("invalid_request", 400),  # RFC 6749: 400, not 422
                errors.AuthenticationFailed: ("invalid_client", 401),
                errors.Forbidden: ("insufficient_scope", 403),
                errors.RateLimited: ("slow_down", 429),
                errors.Unavailable: ("server_error", 503)}
    for cls, (error, status) in expected.items():
        exc = cls(5) if cls is errors.RateLimited else cls()
        answer = as_oauth_error(exc)
        assert (answer.error, answer.status) == (error, status), cls


def test_each_code_is_described_by_its_own_class_not_inherited() -> None:
    """A class that introduces a code must say what it means and what to do in its own
    body: inheriting the parent's meaning would document one code with another's words."""
    from chalicelib.core import errors

    introduced: dict[str, type] = {}
    for cls in errors._declared():
        introduced.setdefault(cls.code, cls)
    for code, cls in introduced.items():
        own = vars(cls)
        assert "code" in own or cls is errors.AppError, code
        assert own.get("meaning") and own.get("remedy"), f"{code}: {cls.__name__}"
    meanings = [errors.ERRORS[code][1] for code in introduced]
    assert len(set(meanings)) == len(meanings)
