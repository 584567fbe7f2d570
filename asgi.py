"""The ASGI entry point: HTTP to Django, WebSockets through the origin check to the consumers."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.dev")
# Django must be set up before the consumers (and their models) are imported.
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from core.statics import with_static_files  # noqa: E402
from settings.env import env_int  # noqa: E402
from settings.routing import websocket_urlpatterns  # noqa: E402
from studio.drain import install_in_daphne  # noqa: E402
from studio.fastsend import TransportMiddleware  # noqa: E402

GC_THRESHOLD = env_int("MINXIN_GC_THRESHOLD", 50_000, minimum=700)

# A fan-out leaves several short-lived objects per delivery, which survive until the whole
# fan-out ends; with the default thresholds they get promoted and set off full collections of the
# heap in the middle of live delivery (FANOUT-BASELINE.md). Freeze what start-up built and collect
# the young generation less often.
gc.freeze()
gc.set_threshold(GC_THRESHOLD, 20, 20)

# Under daphne, SIGTERM drains this process's sockets gradually instead of dropping them all at
# once (studio/drain.py, MINXIN_DRAIN_SECONDS).
install_in_daphne()

application = ProtocolTypeRouter(
    {
        # Static files are served by the app itself (hashed, cached for a year, compressed: core/statics.py),
        # so one daphne process is a whole site; a proxy or CDN in front may cache them.
        "http": with_static_files(django_application),
        "websocket": TransportMiddleware(
            # Sessions and logins per route (settings/routing.py): viewers never look up a user.
            AllowedHostsOriginValidator(URLRouter(websocket_urlpatterns))
        ),
    }
)
