"""The auth repositories: key strings only in them, every kind registered where token
issuance and owner propagation look kinds up, and a missing kind refused before a
rights change is written."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from tests.component.helpers import assert_error
from tests.conftest import Api, make_user

ROOT = Path(__file__).resolve().parents[2]
REPOS = {"chalicelib/auth/users/repo.py", "chalicelib/auth/oauth/repo.py",
         "chalicelib/auth/api_keys/repo.py", "chalicelib/auth/sessions/repo.py"}
AUTH_KEYS = re.compile(r"\b(USER|USERNAME|ROLE|CLIENT|APIKEY|RT|RTF)#")


def _code_strings(tree: ast.AST) -> list[tuple[int, str]]:
    """String constants of the code, docstrings and other bare strings left out."""
    bare = {id(n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in bare]


def test_auth_key_strings_live_only_in_the_repositories() -> None:
    found = []
    for path in sorted((ROOT / "chalicelib").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in REPOS:
            continue
        for line, text in _code_strings(ast.parse(path.read_text())):
            if AUTH_KEYS.search(text):
                found.append(f"{rel}:{line}: {text!r}")
    assert found == []
    # The check sees what it looks for (a repository's own strings).
    repo = ast.parse((ROOT / "chalicelib/auth/users/repo.py").read_text())
    assert any(AUTH_KEYS.search(text) for _, text in _code_strings(repo))


def test_every_kind_is_registered_once_the_app_is_loaded(api: Api) -> None:
    from chalicelib.auth.sessions import subjects
    from chalicelib.auth.users import rights

    assert subjects.registered() == {"user", "client"}
    assert [k.kind for k in rights.require_kinds()] == ["api_key", "client"]
    assert [k.kind for k in rights.require_kinds() if k.holds_sessions] == ["client"]


def test_a_rights_change_is_refused_before_its_write_when_a_kind_is_missing(
        admin: Api, monkeypatch: Any) -> None:
    from chalicelib.auth.users import rights

    _, me = make_user(admin, "kim", ["viewer"])
    monkeypatch.delitem(rights._KINDS, "client")
    resp = admin.put(f"/api/v1/users/{me['id']}", {"roles": ["analyst"]})
    assert_error(resp, 500, "INTERNAL_ERROR")
    # Any other change goes ahead: only rights wait for every kind.
    resp = admin.put(f"/api/v1/users/{me['id']}", {"email": "kim@new.example.com"})
    assert resp.status_code == 200, resp.body
    monkeypatch.undo()
    assert admin.get(f"/api/v1/users/{me['id']}").json["data"]["roles"] == ["viewer"]
