"""The two outbound channels: email through SES, SMS through SNS (the platform's own
account and role: no per-tenant credentials).

One message per recipient, never one message to many: a recipient never sees who else
got it, and each recipient has its own outcome (sent, or why not). A provider's refusal
of one recipient is `Refused` (the request's fault: 422); a provider that is down,
throttled or not set up is `Unreachable` (ours: 503). Neither carries the provider's
raw error beyond a short, address-free message.
"""

from __future__ import annotations

import re
from typing import Any

from chalicelib.core import aws
from chalicelib.core.errors import Unprocessable
from chalicelib.core.settings import get_settings

EMAIL = re.compile(r"^[^@\s<>,;\"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$")
# E.164: a plus, a country code that does not start with 0, at most 15 digits in all.
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
SENDER_ID = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9]{1,11}$")

# Numbers an SMS never goes to: premium-rate and shared-cost ranges of the North American
# plan, and the international networks (satellite, shared codes) that SMS pumping fraud
# uses to bill a sender for texts nobody reads.
PREMIUM_PREFIXES = ("+1900", "+1976", "+870", "+881", "+882", "+883", "+888", "+979",
                    "+991")

MAX_SUBJECT = 200            # characters; one header line, no line breaks
MAX_EMAIL_BODY = 100_000     # bytes of UTF-8, text and HTML each
MAX_SMS_BODY = 1_600         # bytes of UTF-8: SNS's own limit (up to 10 parts)

# Provider answers that mean "not this recipient/message" (the caller can fix it).
_REFUSALS = frozenset({"MessageRejected", "InvalidParameterValue", "InvalidParameter",
                       "ValidationError", "InvalidParameterException"})


class Refused(Exception):
    """The provider refused this message or recipient."""


class Unreachable(Exception):
    """The provider could not be used now (down, throttled, sending paused, sender not
    set up)."""


def check_email(address: str) -> str:
    if len(address) > 254 or not EMAIL.match(address):
        raise Unprocessable("Not an email address.", details=[
            {"field": "to", "message": f"'{address[:80]}' is not an email address"}])
    return address


def check_phone(number: str) -> str:
    if not E164.match(number):
        raise Unprocessable("Phone numbers must be in E.164 form, e.g. +14155550123.",
                            details=[{"field": "to",
                                      "message": f"'{number[:40]}' is not an E.164 number"}])
    allowed = get_settings().sms_allowed_prefixes
    if number.startswith(PREMIUM_PREFIXES) or (allowed and not number.startswith(allowed)):
        raise Unprocessable("SMS are not sent to this number's range.", details=[
            {"field": "to", "message": f"'{number[:40]}': premium, international-network "
                                       "or not an allowed country (sms_allowed_prefixes)"}])
    return number


def check_subject(subject: str) -> str:
    if "\r" in subject or "\n" in subject:
        raise Unprocessable("A subject is one line.", details=[
            {"field": "subject", "message": "line breaks are not allowed"}])
    if not subject.strip() or len(subject) > MAX_SUBJECT:
        raise Unprocessable(f"A subject has 1 to {MAX_SUBJECT} characters.", details=[
            {"field": "subject", "message": f"1 to {MAX_SUBJECT} characters"}])
    return subject


def check_size(field: str, text: str, limit: int) -> str:
    if not text.strip():
        raise Unprocessable(f"The {field} is empty.", details=[
            {"field": field, "message": "empty"}])
    if len(text.encode("utf-8")) > limit:
        raise Unprocessable(f"The {field} exceeds {limit} bytes.", details=[
            {"field": field, "message": f"at most {limit} bytes of UTF-8"}])
    return text


def _sender() -> str:
    """The platform's sender address. The emulator (moto) sends only from a verified
    identity, so off AWS it is verified before each send (moto may have been reset
    meanwhile; it costs one local call); deployed stages verify theirs (domain or
    address) once, outside the code."""
    settings = get_settings()
    if not settings.is_deployed:
        aws.client("ses").verify_email_identity(EmailAddress=settings.email_from)
    return settings.email_from


def _source(from_name: str) -> str:
    sender = _sender()
    if not from_name:
        return sender
    # RFC 5322 display name: control characters, quotes and backslashes removed; a
    # non-ASCII name as an RFC 2047 encoded word (SES refuses raw UTF-8 in a header).
    from email.utils import formataddr

    clean = re.sub(r"[\"\\\x00-\x1f\x7f]", "", from_name).strip()
    if not clean:
        return sender
    return formataddr((clean, sender), charset="utf-8")


def send_email(to: str, subject: str, text: str, html: str | None = None, *,
               from_name: str = "", reply_to: str = "") -> str:
    """One email to one address; answers SES's message id."""
    check_email(to)
    check_subject(subject)
    check_size("body", text, MAX_EMAIL_BODY)
    body: dict[str, Any] = {"Text": {"Data": text, "Charset": "UTF-8"}}
    if html is not None:
        body["Html"] = {"Data": check_size("html", html, MAX_EMAIL_BODY), "Charset": "UTF-8"}
    kwargs: dict[str, Any] = {
        "Source": _source(from_name), "Destination": {"ToAddresses": [to]},
        "Message": {"Subject": {"Data": subject, "Charset": "UTF-8"}, "Body": body}}
    if reply_to:
        kwargs["ReplyToAddresses"] = [check_email(reply_to)]
    resp = _call(lambda: aws.client("ses").send_email(**kwargs))
    return str(resp.get("MessageId", ""))


def send_sms(to: str, text: str, *, sender_id: str = "") -> str:
    """One SMS to one E.164 number (transactional); answers SNS's message id."""
    check_phone(to)
    check_size("body", text, MAX_SMS_BODY)
    attrs = {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}}
    sender_id = sender_id or get_settings().sms_sender_id
    if sender_id:
        if not SENDER_ID.match(sender_id):
            raise Unprocessable("A sender id has 1 to 11 letters and digits, one letter at "
                                "least.", details=[{"field": "senderId", "message": "invalid"}])
        attrs["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": sender_id}
    resp = _call(lambda: aws.client("sns").publish(PhoneNumber=to, Message=text,
                                                   MessageAttributes=attrs))
    return str(resp.get("MessageId", ""))


def _call(send: Any) -> dict[str, Any]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return dict(send())
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code", "")), str(error.get("Message", ""))
        if code in _REFUSALS and not _sender_problem(message):
            raise Refused(_short(code, message)) from exc
        raise Unreachable(code or "provider error") from exc
    except BotoCoreError as exc:  # no connection, timeouts
        raise Unreachable(type(exc).__name__) from exc


def _sender_problem(message: str) -> bool:
    """SES says "Email address not verified <sender>" when our own sender is not set up:
    that is ours to fix, not the caller's."""
    return "not verified" in message and get_settings().email_from in message


def _short(code: str, message: str) -> str:
    # Provider messages may quote the address; the caller has it already.
    text = re.sub(r"[^\s@<>\"']+@[^\s@<>\"']+", "<address>", message)
    text = re.sub(r"\+\d{6,15}", "<number>", text)
    return f"{code}: {text[:200]}" if text else code
