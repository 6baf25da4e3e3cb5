"""User login and management: /auth, /users, /roles, /user-roles."""

from __future__ import annotations

from chalicelib.auth.users import roles, service
from chalicelib.auth.users.models import (
    AssignRole,
    CreateUser,
    Login,
    LogoutBody,
    RefreshBody,
    RoleBody,
    UpdateRole,
    UpdateUser,
    UserQuery,
    UserRoleQuery,
)
from chalicelib.http.context import RequestContext
from chalicelib.http.models import PageQuery
from chalicelib.http.registry import NO_STORE, ApiBlueprint, Reply, ok, page

api = ApiBlueprint(__name__, "Users")


@api.route("/auth/login", "POST", auth="none", limited=False, body=Login, idempotent=False,
           errors=(401,), summary="Log a user in")
def login(ctx: RequestContext, body: Login) -> Reply:
    """Answers the token shape of the OAuth token endpoint. Failed attempts count against
    the caller's IP (100 per hour)."""
    return Reply(service.login(body.username, body.password, ctx.base_url, ctx.ip), 200,
                 dict(NO_STORE))


@api.route("/auth/refresh", "POST", auth="none", body=RefreshBody, idempotent=False,
           errors=(401,), summary="Rotate a user's refresh token")
def refresh(ctx: RequestContext, body: RefreshBody) -> Reply:
    """A refresh token used twice revokes its whole family."""
    return Reply(service.refresh(body.refresh_token, ctx.base_url), 200, dict(NO_STORE))


@api.route("/auth/logout", "POST", auth="none", body=LogoutBody, idempotent=False,
           summary="Log out (revoke the refresh token and its access tokens)")
def logout(ctx: RequestContext, body: LogoutBody) -> Reply:
    """Send the `refresh_token`, or only `Authorization: Bearer <access token>`: either
    ends that session (the refresh family and its access tokens)."""
    auth = ctx.header("authorization")
    bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    service.logout(body.refresh_token, bearer, ctx.base_url)
    return Reply({"data": {"loggedOut": True}}, 200, dict(NO_STORE))


@api.route("/users", scopes=("users:manage",), query=UserQuery, summary="List users")
def list_users(ctx: RequestContext, query: UserQuery) -> Reply:
    items, cursor = service.list_users(query.search, query.cursor, query.per_page)
    return page(items, cursor, query.per_page)


@api.route("/users", "POST", scopes=("users:manage",), body=CreateUser, status=201,
           summary="Create a user")
def create_user(ctx: RequestContext, body: CreateUser) -> Reply:
    user = service.create_user(ctx.principal, body)
    return Reply({"data": user}, 201, {"Location": f"/api/v1/users/{user['id']}"})


@api.route("/users/{user_id}", scopes=("users:read",),
           summary="Get a user (yourself, or any with users:manage)")
def get_user(ctx: RequestContext, user_id: str) -> Reply:
    assert ctx.principal is not None
    return ok(service.public_user(service.visible_user(ctx.principal, user_id)))


@api.route("/users/{user_id}", "PUT", scopes=("users:read",), body=UpdateUser,
           summary="Update a user")
def update_user(ctx: RequestContext, user_id: str, body: UpdateUser) -> Reply:
    """Users change their own email and password (logged in as themselves, with
    `currentPassword`; a key or client never changes its owner's account); other users,
    roles and status need users:manage and a caller at least as powerful as the target;
    tier needs an admin. A new password, a role taken away or a deactivation ends every
    session issued before it."""
    assert ctx.principal is not None
    return ok(service.update_user(ctx.principal, user_id, body))


@api.route("/users/{user_id}", "PATCH", scopes=("users:read",), body=UpdateUser,
           summary="Update a user (as PUT: only the fields sent change)")
def patch_user(ctx: RequestContext, user_id: str, body: UpdateUser) -> Reply:
    return ok(service.update_user(ctx.actor, user_id, body))


@api.route("/users/{user_id}", "DELETE", scopes=("users:manage",), summary="Delete a user")
def delete_user(ctx: RequestContext, user_id: str) -> None:
    assert ctx.principal is not None
    service.delete_user(ctx.principal, user_id)


@api.route("/roles", scopes=("users:read",), query=PageQuery,
           summary="List roles (built-in and custom)")
def list_roles(ctx: RequestContext, query: PageQuery) -> Reply:
    listed = roles.list_roles()
    return page(listed, None, len(listed))


@api.route("/roles", "POST", scopes=("users:manage",), body=RoleBody, status=201,
           summary="Create a custom role")
def create_role(ctx: RequestContext, body: RoleBody) -> Reply:
    """Its scopes must be the caller's own."""
    return Reply({"data": roles.create_role(ctx.actor, body)}, 201)


@api.route("/roles/{name}", scopes=("users:read",), summary="Get a role")
def get_role(ctx: RequestContext, name: str) -> Reply:
    return ok(roles.get_role(name))


@api.route("/roles/{name}", "PUT", scopes=("users:manage",), body=UpdateRole,
           summary="Update a custom role")
def update_role(ctx: RequestContext, name: str, body: UpdateRole) -> Reply:
    """The caller must hold every scope of the role, before and after: changing a role
    changes what its holders (and their keys and clients) may do, at once."""
    return ok(roles.update_role(ctx.actor, name, body))


@api.route("/roles/{name}", "DELETE", scopes=("users:manage",), summary="Delete a custom role")
def delete_role(ctx: RequestContext, name: str) -> None:
    assert ctx.principal is not None
    roles.delete_role(ctx.principal, name)


@api.route("/user-roles", scopes=("users:manage",), query=UserRoleQuery,
           summary="List role assignments")
def list_user_roles(ctx: RequestContext, query: UserRoleQuery) -> Reply:
    if query.user_id:
        user = service.user_item(query.user_id)
        users = [service.public_user(user)] if user else []
        cursor = None
    else:
        users, cursor = service.list_users(None, query.cursor, query.per_page)
    pairs = [{"userId": u["id"], "username": u["username"], "role": r}
             for u in users for r in u["roles"] if not query.role or r == query.role]
    return page(pairs, cursor, query.per_page)


@api.route("/user-roles", "POST", scopes=("users:manage",), body=AssignRole, status=201,
           errors=(404,),
           summary="Assign a role to a user")
def assign_role(ctx: RequestContext, body: AssignRole) -> Reply:
    assert ctx.principal is not None
    return Reply({"data": service.assign_role(ctx.principal, body.user_id, body.role)}, 201)


@api.route("/user-roles/{user_id}/{role}", "DELETE", scopes=("users:manage",),
           summary="Remove a role from a user")
def remove_role(ctx: RequestContext, user_id: str, role: str) -> None:
    assert ctx.principal is not None
    service.unassign_role(ctx.principal, user_id, role)
