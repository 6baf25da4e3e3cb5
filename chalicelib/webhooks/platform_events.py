"""Platform events: about the platform itself, sent to their owner's webhooks only.
Registered in the catalog at import (the webhook routes import this module).

Each is read with the scope that manages what it is about: a webhook's own events need
only webhooks:manage (which every subscriber holds). Other capabilities register their
own platform events with the catalog (exchange/exports and exchange/imports do)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from chalicelib.events import catalog


class _Data(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, defer_build=True)


class WebhookTest(_Data):
    webhook_id: str = Field(description="The webhook being tested.")
    message: str
    requested_by: str = Field(description="Who asked for the test (kind:id).")


class WebhookDisabling(_Data):
    webhook_id: str
    url: str
    failing_since: str = Field(description="RFC 3339: the first failure of this run.")
    consecutive_failures: int
    disable_at: str = Field(description="RFC 3339: when it will be disabled if it keeps "
                                        "failing.")


class WebhookDisabled(_Data):
    webhook_id: str
    url: str
    reason: str
    disabled_at: str
    failing_since: str | None = None
    consecutive_failures: int = 0


_T = "2026-01-01T00:00:00.000Z"
_W = "whk_01example"

for _name, _scope, _desc, _model, _example in (
    ("webhook.test", "webhooks:manage",
     "Sent by POST /webhooks/{id}/test to that webhook only.", WebhookTest,
     {"webhookId": _W, "message": "This is a test event from Gatehouse.",
      "requestedBy": "user:usr_01example"}),
    ("webhook.disabling", "webhooks:manage", "A webhook has been failing for a long time "
     "and will be disabled unless a delivery succeeds.", WebhookDisabling,
     {"webhookId": _W, "url": "https://example.com/hooks", "failingSince": _T,
      "consecutiveFailures": 42, "disableAt": "2026-01-04T00:00:00.000Z"}),
    ("webhook.disabled", "webhooks:manage", "A webhook was disabled (kept failing, or its "
     "endpoint answered 410 Gone); re-enable it with PUT {\"active\": true}.", WebhookDisabled,
     {"webhookId": _W, "url": "https://example.com/hooks", "reason": "failing for 5 days",
      "disabledAt": _T, "failingSince": "2025-12-27T00:00:00.000Z",
      "consecutiveFailures": 120}),
):
    if _name not in catalog.CATALOG:
        catalog.register(_name, _desc, _model, _example, read_scope=_scope, platform=True)
