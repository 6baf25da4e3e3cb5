"""Routes derived from a declaration: list, get, create (201), PUT, DELETE and, for a
resource with a status flow, PATCH /{id}/status. Thin: parse, call the service, shape."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from chalicelib.http.context import RequestContext
from chalicelib.http.models import Body
from chalicelib.http.registry import ApiBlueprint, Reply, ok, page
from chalicelib.resources import service
from chalicelib.resources.declaration import Resource


def scopes(res: Resource, write: bool = False) -> tuple[str, ...]:
    return (f"{res.name}:{'write' if write else 'read'}",)


def _named(fn: Any, name: str, doc: str) -> Any:
    fn.__name__ = name
    fn.__doc__ = doc
    return fn


def expose(api: ApiBlueprint, res: Resource) -> None:
    base = f"/{res.name}"
    one = f"{base}/{{{res.id_param}}}"
    read, write = scopes(res), scopes(res, True)
    filters = ", ".join([*(f"`{n}=a,b`" for n in res.enums),
                         *(f"`{n}Min`/`{n}Max`" for n in res.ranges),
                         "`createdAfter`/`createdBefore`"])
    sorts = "createdAt" + (f" or {res.sort2}" if res.sort2 else "")
    search = f" `q` searches {', '.join(res.search)}." if res.search else ""

    def list_(ctx: RequestContext, query: Any) -> Reply:
        items, cursor = service.list_items(res, ctx.actor, query)
        return page(items, cursor, query.per_page)

    api.route(base, scopes=read, query=res.list_query, summary=f"List {res.name}")(_named(
        list_, f"list_{res.name}",
        f"Paginated; filters {filters}; `sort` by {sorts}, `order` asc|desc; "
        f"`fields` selects fields.{search}"))

    def get_(ctx: RequestContext, query: Any, **params: str) -> Reply:
        return ok(service.get(res, ctx.actor, params[res.id_param], query.fields))

    api.route(one, scopes=read, query=res.get_query, summary=f"Get a {res.singular}")(_named(
        get_, f"get_{res.singular}", f"One {res.singular}; `fields` selects fields."))

    def create_(ctx: RequestContext, body: Any) -> Reply:
        data = service.create(res, ctx.actor, body)
        location = f"/api/{ctx.version or 'v1'}{base}/{data['id']}"
        return Reply({"data": data}, 201, {"Location": location})

    unique = f" `{'`, `'.join(res.unique)}` must be unique (409)." if res.unique else ""
    api.route(base, "POST", scopes=write, body=res.create, status=201, errors=(409,),
              summary=f"Create a {res.singular}")(_named(
                  create_, f"create_{res.singular}",
                  f"Raises {res.events.get('created', 'no event')}.{unique}"))

    if res.update is not None:
        def update_(ctx: RequestContext, body: Any, **params: str) -> Reply:
            return ok(service.update(res, ctx.actor, params[res.id_param], body))

        api.route(one, "PUT", scopes=write, body=res.update, errors=(409,),
                  summary=f"Update a {res.singular}")(_named(
                      update_, f"update_{res.singular}",
                      "Changes the given fields (null removes an optional one); raises "
                      f"{res.events.get('updated', 'no event')}."))

    if res.delete_mode == "hard":
        def delete_(ctx: RequestContext, **params: str) -> None:
            service.delete(res, ctx.actor, params[res.id_param])

        api.route(one, "DELETE", scopes=write, status=204,
                  summary=f"Delete a {res.singular}")(_named(
                      delete_, f"delete_{res.singular}",
                      f"Raises {res.events.get('deleted', 'no event')}."))

    if res.flow is not None:
        statuses = tuple(res.flow)
        from typing import Literal

        from pydantic import create_model

        status_type: Any = Literal[statuses]
        status_body: Any = create_model(
            f"{res.singular.title()}StatusChange", __base__=Body,
            status=(status_type, Field(description="The new status.")))
        flow_text = "; ".join(f"{k} -> {', '.join(v) or '(final)'}"
                              for k, v in res.flow.items())

        def status_(ctx: RequestContext, body: Any, **params: str) -> Reply:
            return ok(service.transition(res, ctx.actor, params[res.id_param], body.status))

        api.route(f"{one}/status", "PATCH", scopes=write, body=status_body, errors=(409,),
                  summary=f"Change a {res.singular}'s status")(_named(
                      status_, f"status_{res.singular}",
                      f"Transitions: {flow_text}. Others answer 409 CONFLICT."))

