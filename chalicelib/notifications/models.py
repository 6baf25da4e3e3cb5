"""Request models of the notification routes. The ticket-tracking brief's names are
accepted as written: `user_email`, `user_name`, `notification_type` (= template),
`context_data` (= variables); `is_read`, `page`, `page_size` on the inbox."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field

from chalicelib.http.models import Body, PageQuery

Recipient = Annotated[str, Field(min_length=1, max_length=320)]


class SendNotification(Body):
    channel: Literal["email", "sms"] = Field(
        "email", description="email (through SES) or sms (through SNS, E.164 numbers).")
    to: list[Recipient] | Recipient | None = Field(
        None, max_length=100, description="One recipient or a list (at most 20 after "
                                          "duplicates are removed).")
    template: str | None = Field(
        None, min_length=1, max_length=64,
        validation_alias=AliasChoices("template", "notificationType", "notification_type"),
        description="A built-in template (GET /notifications/templates); or give `body`.")
    variables: dict[str, Any] | None = Field(
        None, validation_alias=AliasChoices("variables", "contextData", "context_data"),
        description="Values of the template's {{placeholders}} (nested objects as {{a.b}}).")
    subject: str | None = Field(None, max_length=1000,
                                description="Email subject (with an inline body, required).")
    body: str | None = Field(None, max_length=200_000,
                             description="An inline text body, {{placeholders}} allowed.")
    html: str | None = Field(None, max_length=200_000,
                             description="An inline HTML body (values substituted escaped).")
    connection_id: str | None = Field(
        None, min_length=1, max_length=64,
        description="Send with one of your email_ses / sms_sns connections' settings "
                    "(display name and reply-to; SMS sender id).")
    user_email: str | None = Field(None, max_length=320,
                                   description="The brief's recipient field: added to `to`.")
    user_name: str | None = Field(None, max_length=200,
                                  description="The brief's: the variable `user_name`.")

    def recipients(self) -> list[str]:
        listed = [self.to] if isinstance(self.to, str) else list(self.to or [])
        return listed + ([self.user_email] if self.user_email else [])

    def values(self) -> dict[str, Any]:
        given = dict(self.variables or {})
        if self.user_name is not None:
            given.setdefault("user_name", self.user_name)
        return given


class InboxQuery(PageQuery):
    per_page: int = Field(20, ge=1, le=100, validation_alias=AliasChoices(
        "perPage", "per_page", "page_size", "pageSize"), description="Items per page (max 100).")
    is_read: bool | None = Field(None, validation_alias=AliasChoices("is_read", "isRead"),
                                 description="true: read ones only; false: unread ones only.")
    page: int | None = Field(None, ge=1, le=500, description=(
        "A page number (the brief's paging) instead of `cursor`; page x perPage stays "
        "within the inbox's 500."))


class MarkRead(Body):
    is_read: bool = Field(validation_alias=AliasChoices("is_read", "isRead"),
                          description="true marks it read; false, unread again.")


class RecordsQuery(PageQuery):
    """The send records: newest first."""
