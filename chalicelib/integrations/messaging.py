"""The email and SMS connector types (`email_ses`, `sms_sns`): direction `send`; each
pushed record is one message, sent through the notification channels and recorded as a
send of the connection's owner (GET /notifications lists it).

No credentials: they send with the platform's own SES and SNS (its role), from the
platform's sender address; a connection chooses only a display name and a reply-to
address (email) or a sender id (SMS). Letting a connection name any From address would
let a tenant mail as any identity the platform's account has verified (another
tenant's domain, the platform's own). The same checks as POST /notifications/send
apply (recipient cap, template variables, sizes, the owner's daily quota), and a send
needs `notifications:send` both of the owner now and of whoever last configured the
connection (an API key or OAuth client that has since ended sends nothing);
a sandbox connection records its sends without sending.

A record is a message, as the send route's body:
    {"to": "a@example.com" | [...], "template": "ticket_created", "variables": {...}}
    {"to": "+14155550123", "body": "Your code is {{code}}", "variables": {"code": "42"}}
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from chalicelib.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from chalicelib.core.principal import Principal
from chalicelib.core.scopes import allows
from chalicelib.integrations.connector import SEND, Connection, ConnectorType, register
from chalicelib.notifications import channels, service

SCOPE = "notifications:send"


class _Config(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid",
                              defer_build=True, str_strip_whitespace=True)


class EmailConfig(_Config):
    from_name: str = Field("", max_length=100, pattern=r"^[^\"\\\r\n<>]*$",
                           description="The display name of the platform's sender address.")
    reply_to: str = Field("", max_length=254, description="Where replies go.")


class SmsConfig(_Config):
    sender_id: str = Field("", max_length=11, description="An alphanumeric sender id (1-11 "
                           "letters and digits, one letter at least) where carriers allow one.")

    @field_validator("sender_id")
    @classmethod
    def _sender_id(cls, value: str) -> str:
        if value and not channels.SENDER_ID.match(value):
            raise ValueError("1 to 11 letters and digits, one letter at least")
        return value


class Message(_Config):
    """A pushed record."""

    model_config = ConfigDict(extra="ignore")  # an event's other fields do no harm
    to: list[str] | str = Field(description="One recipient or a list (at most 20).")
    template: str | None = Field(None, max_length=64)
    variables: dict[str, Any] | None = None
    subject: str | None = Field(None, max_length=1000)
    body: str | None = Field(None, max_length=200_000)
    html: str | None = Field(None, max_length=200_000)


class _Messaging(ConnectorType):
    channel: ClassVar[str]
    directions: ClassVar[frozenset[str]] = frozenset({SEND})

    def options(self, connection: Connection) -> dict[str, str]:
        raise NotImplementedError

    def check(self, config: dict[str, Any], owner: str) -> None:
        self.config_model.model_validate(config)

    def push(self, connection: Connection, record: dict[str, Any]) -> dict[str, Any]:
        from pydantic import ValidationError

        from chalicelib.auth.owners import current_scopes, ended

        gone = ended(connection.ceiling_by)
        if gone is not None:   # what a credential set up ends with it
            raise Forbidden(f"The credential that set up this connection "
                            f"({connection.ceiling_by}) is {gone}; nothing was sent.")
        owner_scopes = current_scopes([connection.owner]).get(connection.owner, frozenset())
        if not (allows(owner_scopes, [SCOPE]) and allows(connection.scopes, [SCOPE])):
            raise Forbidden(f"Sending through this connection needs {SCOPE} (of its owner, "
                            "and of whoever made it).",
                            details=[{"requiredScopes": [SCOPE]}])
        try:
            msg = Message.model_validate(record)
        except ValidationError as exc:
            raise Unprocessable("A record to send is a message: to, and a template or "
                                "a body.", details=[{"field": ".".join(map(str, e["loc"])),
                                                     "message": e["msg"]}
                                                    for e in exc.errors()]) from exc
        req = service.Request(
            channel=self.channel, to=[msg.to] if isinstance(msg.to, str) else list(msg.to),
            template=msg.template, variables=dict(msg.variables or {}), subject=msg.subject,
            body=msg.body, html=msg.html, **self.options(connection))
        sender = service.Sender(connection.owner, connection.sandbox,
                                f"integration:{connection.id}")
        return service.present(service.send(sender, req))


class EmailSes(_Messaging):
    type = "email_ses"
    title = "Email (Amazon SES)"
    description = ("Sends each pushed message as email through the platform's SES, one "
                   "message per recipient, from the platform's sender address.")
    channel = "email"
    config_model = EmailConfig

    def check(self, config: dict[str, Any], owner: str) -> None:
        cfg = EmailConfig.model_validate(config)
        if cfg.reply_to:
            try:
                channels.check_email(cfg.reply_to)
            except Unprocessable as exc:
                raise Unprocessable("replyTo is not an email address.", details=[
                    {"field": "config.replyTo", "message": "not an email address"}]) from exc

    def options(self, connection: Connection) -> dict[str, str]:
        cfg = EmailConfig.model_validate(connection.config)
        return {"from_name": cfg.from_name, "reply_to": cfg.reply_to}


class SmsSns(_Messaging):
    type = "sms_sns"
    title = "SMS (Amazon SNS)"
    description = ("Sends each pushed message as a transactional SMS through the platform's "
                   "SNS to E.164 numbers.")
    channel = "sms"
    config_model = SmsConfig

    def options(self, connection: Connection) -> dict[str, str]:
        return {"sender_id": SmsConfig.model_validate(connection.config).sender_id}


TYPES: dict[str, _Messaging] = {"email": EmailSes(), "sms": SmsSns()}
for _kind in TYPES.values():
    register(_kind)


def options_for(principal: Principal, connection_id: str, channel: str) -> dict[str, str]:
    """POST /notifications/send with `connectionId` (app.py names this to the
    notification routes): that connection's settings, if the
    caller may see it (its owner's, or an admin; same namespace) and it is of the
    channel's type and active."""
    from chalicelib.integrations import repo

    item = repo.get_item(connection_id) if connection_id.startswith("int_") else None
    conn = repo.of_item(item) if item else None
    if conn is None or not principal.can_see(conn.owner) or conn.sandbox != principal.sandbox:
        raise NotFound("No such connection.")
    kind = TYPES[channel]
    if conn.type != kind.type:
        raise Unprocessable(f"This is a {conn.type} connection; the {channel} channel sends "
                            f"through {kind.type}.", details=[
                                {"field": "connectionId", "message": f"not {kind.type}"}])
    if conn.status != "active":
        raise Conflict("This connection is paused.")
    return kind.options(conn)

