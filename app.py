"""eventshop: the Chalice app. It creates the app, sets up logging and
registers each bounded context's blueprint; routes and handlers live in the
contexts (``chalicelib/<context>/api.py``)."""

from __future__ import annotations

import logging

from chalice.app import Chalice

from chalicelib import bootstrap
from chalicelib.analytics.api import bp as analytics
from chalicelib.catalog.api import bp as catalog
from chalicelib.checkout.api import bp as checkout
from chalicelib.console.api import bp as console
from chalicelib.http.api import bp as edge_routes
from chalicelib.http.authorizer import edge
from chalicelib.images.api import bp as images
from chalicelib.ops.api import bp as ops
from chalicelib.orders.api import bp as orders
from chalicelib.payments.api import bp as payments
from chalicelib.platform import logs

app = Chalice(app_name="eventshop")
# Chalice leaves app.log at WARNING unless debug is on; INFO is what operators
# read in CloudWatch. Secrets never reach the logs, every record carries the
# flow's correlation id, and deployed stages log one JSON object per line
# (chalicelib.platform.logs): on the root logger's handlers and on app.log,
# which Chalice gives its own.
_settings = bootstrap.settings()
app.log.setLevel(getattr(logging, _settings.log_level.upper(), logging.INFO))
logs.configure([logging.getLogger(), app.log], _settings.log_format)

# No url_prefix, no name_prefix: routes and Lambda function names stay as deployed.
for blueprint in (
    edge,
    edge_routes,
    catalog,
    orders,
    checkout,
    payments,
    images,
    ops,
    analytics,
    console,
):
    app.register_blueprint(blueprint)
