"""A webhook endpoint's health (not the platform's: that is ops/health.py): a webhook
whose every attempt has failed for days is warned (a `webhook.disabling` event and an
email to its owner), then disabled (`webhook.disabled`).

Checked on each failed batch of attempts, from the run of failures service.py keeps on
the webhook (failingSince). Thresholds: settings webhook_warn_after_hours (default 72)
and webhook_disable_after_hours (default 120). An endpoint that gets no
deliveries is not failing anyone, so it is not warned; but once warned, the disable time
the warning announced holds even if no delivery comes by then: the warning leaves a
marker (repo.watch_op) that the minute sweep reads.
"""

from __future__ import annotations

from typing import Any

from chalicelib.core import aws, clock
from chalicelib.core.settings import get_settings
from chalicelib.webhooks import repo, service


def warn_after() -> float:
    return get_settings().webhook_warn_after


def disable_after() -> float:
    return get_settings().webhook_disable_after


def record(webhook_id: str, ok: bool, seen: dict[str, Any] | None = None) -> str:
    """Records the outcome (`seen`: the webhook as read before the attempts); answers
    what followed: "", "warned" or "disabled"."""
    item = service.record_outcome(webhook_id, ok, seen)
    if ok or not item or item.get("status") != "active" or not item.get("failingSince"):
        return ""
    since = clock.parse_iso(str(item["failingSince"]))
    failing_for = clock.now() - since
    if _disable_if_due(item):
        return "disabled"
    if failing_for >= warn_after() and not item.get("disablingWarnedAt"):
        disable_at = since + disable_after()
        if service.warn_disabling(webhook_id, disable_at):
            email_owner(item, clock.iso(disable_at))
            return "warned"
    return ""


def _disable_if_due(item: dict[str, Any]) -> bool:
    if item.get("status") != "active" or not item.get("failingSince"):
        return False
    failing_for = clock.now() - clock.parse_iso(str(item["failingSince"]))
    if failing_for < disable_after():
        return False
    return service.disable(str(item["id"]), f"every delivery failed for "
                                            f"{failing_for / 3600:.0f} hours (since "
                                            f"{item['failingSince']})")


def sweep_warned() -> int:
    """Disables the warned webhooks whose announced time has come and which have not
    succeeded since; markers that are due are removed either way. Answers how many."""
    disabled = 0
    for marker in repo.due_watches():
        hook = service.get_webhook(str(marker["webhookId"]))
        if hook and _disable_if_due(hook):
            disabled += 1
        repo.delete_watch(marker)
    return disabled


def email_owner(hook: dict[str, Any], disable_at: str) -> bool:
    """Best effort: a missing address or an SES refusal is logged, never raised."""
    from chalicelib.core.logging import get_logger

    log = get_logger()
    try:
        from chalicelib.auth.users import service as users

        user = users.user_item(str(hook.get("owner", ""))) if hook.get("owner") else None
        email = (user or {}).get("email")
        if not email:
            log.info("no email for the owner of webhook %s; warning not mailed", hook.get("id"))
            return False
        sender = get_settings().email_from
        ses = aws.client("ses")
        if not get_settings().is_deployed:
            # The emulator (moto) sends only from a verified identity; deployed stages
            # verify theirs once, outside the code.
            ses.verify_email_identity(EmailAddress=sender)
        ses.send_email(Source=sender, Destination={"ToAddresses": [email]}, Message={
            "Subject": {"Data": "Your Gatehouse webhook is failing and will be disabled"},
            "Body": {"Text": {"Data": (
                f"Every delivery to {hook.get('url')} (webhook {hook.get('id')}) has failed "
                f"since {hook.get('failingSince')}. Unless one succeeds, the webhook will be "
                f"disabled at {disable_at}.")}}})
        return True
    except Exception:  # noqa: BLE001 - mail is a courtesy; the event is the record
        log.exception("warning email for webhook %s not sent", hook.get("id"))
        return False
