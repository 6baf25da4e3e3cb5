"""Named message templates and the one tiny renderer: `{{name}}` (or `{{a.b}}` into a
nested object) replaced by the variable's value, in one pass (a value that itself holds
`{{x}}` stays as written), HTML-escaped in HTML bodies, nothing evaluated. A placeholder
whose variable was not given is a 422 naming it; variables no placeholder uses are
ignored.

A template has a subject, a text body, an HTML body (by default the text, escaped, with
line breaks kept) and an SMS text (by default the text body).
"""

from __future__ import annotations

import html as htmlmod
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.core.errors import Unprocessable

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,63}(?:\.[A-Za-z_][A-Za-z0-9_]"
                         r"{0,63}){0,4})\s*\}\}")
MAX_VARIABLES = 50
MAX_VALUE = 2_000  # characters of one variable's value
MAX_TEMPLATE = 50_000  # characters of an inline subject/body/html


@dataclass(frozen=True)
class Template:
    name: str
    description: str
    subject: str
    text: str
    html: str | None = None  # None: the text, escaped
    sms: str | None = None   # None: the text

    def describe(self) -> dict[str, Any]:
        found = sorted({m.group(1) for part in (self.subject, self.text, self.html or "",
                                                self.sms or "")
                        for m in PLACEHOLDER.finditer(part)})
        return {"name": self.name, "description": self.description, "subject": self.subject,
                "text": self.text, "sms": self.sms or self.text, "variables": found}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    sms: str


BUILT_IN: dict[str, Template] = {t.name: t for t in (
    Template("ticket_created", "A ticket was opened.",
             "Ticket {{ticket_id}} opened: {{subject}}",
             "Ticket {{ticket_id}} was opened with priority {{priority}}.\n\n{{subject}}",
             sms="Ticket {{ticket_id}} opened: {{subject}}"),
    Template("ticket_updated", "A ticket changed (status, assignee, priority).",
             "Ticket {{ticket_id}} updated: {{subject}}",
             "Ticket {{ticket_id}} ({{subject}}) is now {{status}}.",
             sms="Ticket {{ticket_id}} is now {{status}}."),
    Template("task_assignment", "Someone was assigned a task (the ticket-tracking brief's "
             "example: task_id, task_title, role_name; user_name from the request).",
             "New Task Assignment",
             "Hello {{user_name}},\n\nYou have been assigned to task {{task_id}} "
             "({{task_title}}) as {{role_name}}.",
             sms="You have been assigned to task {{task_id}}: {{task_title}}"),
    Template("export_completed", "An export finished.",
             "Export {{export_id}} is ready",
             "Your {{format}} export of {{entity}} ({{rows}} rows) is ready to download."),
    Template("export_failed", "An export failed.",
             "Export {{export_id}} failed",
             "Your {{format}} export of {{entity}} failed: {{error}}"),
    Template("import_completed", "An import finished.",
             "Import {{import_id}} finished",
             "Your import of {{entity}} finished: {{success_count}} rows written, "
             "{{error_count}} refused."),
    Template("webhook_disabling", "A failing webhook will be disabled.",
             "Webhook {{webhook_id}} is failing",
             "Every delivery to {{url}} has failed since {{failing_since}}. Unless one "
             "succeeds it will be disabled at {{disable_at}}."),
    Template("webhook_disabled", "A webhook was disabled.",
             "Webhook {{webhook_id}} was disabled",
             "Your webhook for {{url}} was disabled: {{reason}}. Re-enable it with "
             "PUT {\"active\": true} once the endpoint works."),
)}


def named(name: str) -> Template:
    try:
        return BUILT_IN[name]
    except KeyError:
        raise Unprocessable(f"Unknown template '{name[:64]}'.", details=[
            {"field": "template", "message": f"one of: {', '.join(sorted(BUILT_IN))}"}]
        ) from None


def inline(subject: str | None, text: str, html: str | None = None) -> Template:
    for field, value in (("subject", subject or ""), ("body", text), ("html", html or "")):
        if len(value) > MAX_TEMPLATE:
            raise Unprocessable(f"The {field} is too long.", details=[
                {"field": field, "message": f"at most {MAX_TEMPLATE} characters"}])
    return Template("inline", "", subject or "", text, html)


def check_variables(variables: Mapping[str, Any]) -> None:
    if len(variables) > MAX_VARIABLES:
        raise Unprocessable(f"At most {MAX_VARIABLES} variables.", details=[
            {"field": "variables", "message": f"at most {MAX_VARIABLES}"}])
    for name, value in variables.items():
        _check_value(f"variables.{name}", value, 0)


def _check_value(path: str, value: Any, depth: int) -> None:
    if isinstance(value, Mapping):
        if depth >= 4 or len(value) > MAX_VARIABLES:
            raise Unprocessable("Variables nest too deep or too wide.", details=[
                {"field": path, "message": "at most 4 levels of 50 fields"}])
        for key, inner in value.items():
            _check_value(f"{path}.{key}", inner, depth + 1)
    elif value is not None and not isinstance(value, (str, int, float, bool)):
        raise Unprocessable("A variable is a string, number, boolean or object.", details=[
            {"field": path, "message": "lists are not substituted"}])
    elif isinstance(value, str) and len(value) > MAX_VALUE:
        raise Unprocessable("A variable's value is too long.", details=[
            {"field": path, "message": f"at most {MAX_VALUE} characters"}])


def _lookup(variables: Mapping[str, Any], name: str) -> tuple[bool, Any]:
    value: Any = variables
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False, None
        value = value[part]
    return not isinstance(value, Mapping), value


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def fill(source: str, variables: Mapping[str, Any], *, escape: bool = False,
         field: str = "body") -> str:
    """One pass over `source`; raises 422 listing every missing variable."""
    missing: list[str] = []

    def one(match: re.Match[str]) -> str:
        found, value = _lookup(variables, match.group(1))
        if not found:
            missing.append(match.group(1))
            return ""
        text = _as_text(value)
        return htmlmod.escape(text, quote=True) if escape else text

    out = PLACEHOLDER.sub(one, source)
    if missing:
        names = sorted(set(missing))
        raise Unprocessable(f"The template needs the variable(s): {', '.join(names)}.",
                            details=[{"field": f"variables.{n}",
                                      "message": f"missing (used in the {field})"}
                                     for n in names])
    return out


def render(template: Template, variables: Mapping[str, Any], channel: str = "email"
           ) -> Rendered:
    """The parts the channel sends (an SMS needs only its text): a variable only another
    channel's part uses is not asked for."""
    check_variables(variables)
    if channel == "sms":
        source = template.sms if template.sms is not None else template.text
        return Rendered(subject="", text="", html="", sms=fill(source, variables,
                                                                field="body"))
    text = fill(template.text, variables)
    if template.html is not None:
        html = fill(template.html, variables, escape=True, field="html")
    else:
        html = "<p>" + fill(htmlmod.escape(template.text, quote=False), variables,
                            escape=True).replace("\n\n", "</p><p>").replace("\n", "<br>") + "</p>"
    # Line breaks a variable brings into a subject are folded: it stays one header line.
    subject = " ".join(fill(template.subject, variables, field="subject").split())
    return Rendered(subject=subject, text=text, html=html, sms="")
