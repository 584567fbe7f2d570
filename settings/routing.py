"""WebSocket routes (the HTTP ones are in settings/urls.py)."""

from channels.auth import AuthMiddlewareStack
from channels.sessions import SessionMiddlewareStack
from django.urls import path

from core.security import ExactOriginValidator
from moderation.consumers import ModerateConsumer
from studio.consumers import LiveConsumer, StudioConsumer

websocket_urlpatterns = [
    # A viewer needs its session only for the key (its netizen id), never the user. Resolving the
    # user would send every viewer's handshake through the process's one database thread, where a
    # busy programme's writes (an `end` turning hundreds of questions into letters, say) would keep
    # thousands of handshakes waiting until daphne gives up on them.
    path("ws/live/<int:broadcast_id>/", SessionMiddlewareStack(LiveConsumer.as_asgi())),
    # Staff consoles act with a login cookie: only from this site's exact origin (scheme, host
    # and port), where asgi.py's AllowedHostsOriginValidator checks the host name alone.
    path(
        "ws/studio/<int:broadcast_id>/",
        ExactOriginValidator(AuthMiddlewareStack(StudioConsumer.as_asgi())),
    ),
    path(
        "ws/moderate/<int:broadcast_id>/",
        ExactOriginValidator(AuthMiddlewareStack(ModerateConsumer.as_asgi())),
    ),
]
