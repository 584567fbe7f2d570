"""WebSocket routes (the HTTP ones are in settings/urls.py)."""

from django.urls import path

from moderation.consumers import ModerateConsumer
from studio.consumers import LiveConsumer, StudioConsumer

websocket_urlpatterns = [
    path("ws/live/<int:broadcast_id>/", LiveConsumer.as_asgi()),
    path("ws/studio/<int:broadcast_id>/", StudioConsumer.as_asgi()),
    path("ws/moderate/<int:broadcast_id>/", ModerateConsumer.as_asgi()),
]
