"""Sending email and SMS: recipients checked and capped, the message rendered, the owner's
daily quota charged, one message per recipient through channels.py, and every send
recorded (who, to whom, what became of each recipient; not the body).

Sandbox senders (sandbox API keys, sandbox connections) go through every check and get
a record with status `sandbox`, but nothing leaves: a test key cannot mail the world.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.core import clock, ids
from chalicelib.core.errors import NotFound, RateLimited, Unavailable, Unprocessable
from chalicelib.core.principal import Principal
from chalicelib.notifications import channels, repo, templates

CHANNELS = ("email", "sms")
MAX_RECIPIENTS = 20           # per call
DAILY_RECIPIENTS = 1_000      # per owner and UTC day, live sends only
SENT, PARTIAL, FAILED, SANDBOX, SENDING = "sent", "partial", "failed", "sandbox", "sending"


@dataclass(frozen=True)
class Sender:
    owner: str
    sandbox: bool
    created_by: str  # "api_key:key_..." or "integration:int_..."

    @classmethod
    def of(cls, principal: Principal) -> Sender:
        return cls(principal.owner, principal.sandbox, principal.describe())


@dataclass(frozen=True)
class Request:
    channel: str
    to: list[str]
    template: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    subject: str | None = None
    body: str | None = None
    html: str | None = None
    # A connector's own settings (email: display name and reply-to; SMS: sender id).
    from_name: str = ""
    reply_to: str = ""
    sender_id: str = ""
    connection_id: str = ""  # recorded: the connection whose settings were used


def recipients(channel: str, to: list[str]) -> list[str]:
    """Trimmed, de-duplicated (emails case-insensitively), each checked; 422 listing every
    bad one, or when there are none or more than MAX_RECIPIENTS."""
    seen: dict[str, str] = {}
    for raw in to:
        value = raw.strip()
        seen.setdefault(value.lower() if channel == "email" else value, value)
    found = list(seen.values())
    if not found:
        raise Unprocessable("Name at least one recipient.", details=[
            {"field": "to", "message": "empty"}])
    if len(found) > MAX_RECIPIENTS:
        raise Unprocessable(f"At most {MAX_RECIPIENTS} recipients per call.", details=[
            {"field": "to", "message": f"{len(found)} given, at most {MAX_RECIPIENTS}"}])
    check = channels.check_email if channel == "email" else channels.check_phone
    bad: list[dict[str, Any]] = []
    for value in found:
        try:
            check(value)
        except Unprocessable as exc:
            bad.extend(exc.details or [])
    if bad:
        what = "email addresses" if channel == "email" else "E.164 phone numbers"
        raise Unprocessable(f"Some recipients are not {what}.", details=bad)
    return found


def render(req: Request) -> tuple[str, templates.Rendered]:
    """The template's name ("inline" for a subject/body given in the request) and the
    rendered parts; 422 for a missing or unknown variable, or a message too large."""
    if req.subject and ("\r" in req.subject or "\n" in req.subject):
        channels.check_subject(req.subject)  # refuses it: a subject is one line
    if req.template and (req.body or req.html):
        raise Unprocessable("Give a template or a body, not both.", details=[
            {"field": "template", "message": "a template and a body were both given"}])
    if req.template:
        template = templates.named(req.template)
        if req.subject and req.channel == "email":
            template = templates.Template(template.name, template.description, req.subject,
                                          template.text, template.html, template.sms)
    elif req.body:
        if req.channel == "email" and not req.subject:
            raise Unprocessable("An email needs a subject.", details=[
                {"field": "subject", "message": "required with an inline body"}])
        template = templates.inline(req.subject, req.body, req.html)
        if req.channel == "sms":
            template = templates.Template("inline", "", "", req.body, None, req.body)
    else:
        raise Unprocessable("Give a template, or a body (and for email a subject).",
                            details=[{"field": "template", "message": "or body"}])
    rendered = templates.render(template, req.variables, req.channel)
    if req.channel == "email":
        channels.check_subject(rendered.subject)
        channels.check_size("body", rendered.text, channels.MAX_EMAIL_BODY)
        channels.check_size("html", rendered.html, channels.MAX_EMAIL_BODY)
    else:
        channels.check_size("body", rendered.sms, channels.MAX_SMS_BODY)
    return template.name, rendered


def send(sender: Sender, req: Request) -> dict[str, Any]:
    """Answers the record. Raises 422 before anything is written for a bad request; 429
    when the owner's daily quota is spent; after the record is written, 422 when the
    provider refused every recipient and 503 when it could not be reached."""
    if req.channel not in CHANNELS:
        raise Unprocessable("The channel is email or sms.", details=[
            {"field": "channel", "message": "email | sms"}])
    to = recipients(req.channel, req.to)
    name, rendered = render(req)
    if not sender.sandbox and not repo.charge_quota(sender.owner, len(to), DAILY_RECIPIENTS):
        wait = 86400 - clock.now_int() % 86400
        raise RateLimited(wait, message=f"The daily quota of {DAILY_RECIPIENTS} recipients "
                                        "is spent; it renews at midnight UTC.")
    stamp = clock.iso()
    record: dict[str, Any] = {
        "id": ids.new_id("ntf"), "channel": req.channel, "template": name,
        "subject": rendered.subject if req.channel == "email" else "",
        "status": SANDBOX if sender.sandbox else SENDING,
        "recipients": [{"to": t, "status": SENDING} for t in to],
        "owner": sender.owner, "createdBy": sender.created_by, "sandbox": sender.sandbox,
        "createdAt": stamp, "updatedAt": stamp}
    if req.connection_id:
        record["connectionId"] = req.connection_id
    if sender.sandbox:
        record["recipients"] = [{"to": t, "status": SANDBOX,
                                 "error": "sandbox: not sent"} for t in to]
        repo.put_record(record)
        return record
    repo.put_record(record)
    outcomes, unreachable = _deliver(req, to, rendered)
    sent = sum(1 for o in outcomes if o["status"] == SENT)
    status = SENT if sent == len(to) else PARTIAL if sent else FAILED
    repo.finish_record(record["id"], status, outcomes)
    record.update(status=status, recipients=outcomes, updatedAt=clock.iso())
    if status == FAILED:
        details = [{"field": "to", "message": f"{o['to']}: {o.get('error', '')}",
                    "notificationId": record["id"]} for o in outcomes]
        if unreachable:
            raise Unavailable("The provider could not be reached; nothing was sent.",
                              details=details, headers={"Retry-After": "30"})
        raise Unprocessable("The provider refused every recipient; nothing was sent.",
                            details=details)
    return record


def _deliver(req: Request, to: list[str], rendered: templates.Rendered
             ) -> tuple[list[dict[str, Any]], bool]:
    from chalicelib.core.logging import get_logger

    outcomes: list[dict[str, Any]] = []
    unreachable = False
    for address in to:
        if unreachable:  # the provider is down: do not wait on it once per recipient
            outcomes.append({"to": address, "status": FAILED,
                             "error": "not attempted: the provider was unavailable"})
            continue
        try:
            if req.channel == "email":
                message_id = channels.send_email(
                    address, rendered.subject, rendered.text, rendered.html,
                    from_name=req.from_name, reply_to=req.reply_to)
            else:
                message_id = channels.send_sms(address, rendered.sms, sender_id=req.sender_id)
            outcomes.append({"to": address, "status": SENT, "messageId": message_id})
        except channels.Refused as exc:
            outcomes.append({"to": address, "status": FAILED, "error": str(exc)})
        except channels.Unreachable as exc:
            get_logger().warning("notification provider unavailable",
                                 extra={"channel": req.channel, "code": str(exc)})
            unreachable = True
            outcomes.append({"to": address, "status": FAILED,
                             "error": "the provider was unavailable"})
    return outcomes, unreachable


def present(record: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "channel", "status", "template", "subject", "recipients", "sandbox",
            "owner", "createdBy", "createdAt", "updatedAt")
    out = {k: record.get(k) for k in keys}
    out["connectionId"] = record.get("connectionId")
    return out


def get(principal: Principal, notification_id: str) -> dict[str, Any]:
    found = repo.get_record(notification_id) if notification_id.startswith("ntf_") else None
    if (found is None or not principal.can_see(str(found.get("owner", "")))
            or bool(found.get("sandbox")) != principal.sandbox):
        raise NotFound("No such notification.")
    return found


def listing(principal: Principal, cursor: str | None, limit: int
            ) -> tuple[list[dict[str, Any]], str | None]:
    """The caller's owner's sends (an admin: everyone's) of its namespace, newest first."""
    owner = None if principal.is_admin else principal.owner
    return repo.records(owner, cursor=cursor, limit=limit, sandbox=principal.sandbox)
