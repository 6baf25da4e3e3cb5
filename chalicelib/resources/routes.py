"""Business resources: each declared once (chalicelib/resources/<name>.py), its routes
derived by crud.expose, plus the few routes of its own (order payments, inventory
reserve/release, ...)."""

from chalicelib.http.routes import ApiBlueprint
from chalicelib.resources import crud
from chalicelib.resources.products import PRODUCTS

api = ApiBlueprint(__name__, "Business resources")

for _resource in (PRODUCTS,):
    crud.expose(api, _resource)
