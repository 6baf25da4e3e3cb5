"""Webhook deliveries API (placeholder until the module lands)."""

from chalicelib.http.routes import ApiBlueprint

api = ApiBlueprint(__name__, "Webhook deliveries")
