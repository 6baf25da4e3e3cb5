"""Business resources (placeholder until the module lands)."""

from chalicelib.http.routes import ApiBlueprint

api = ApiBlueprint(__name__, "Business resources")
