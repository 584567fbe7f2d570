"""WebSocket routes (the HTTP ones are in settings/urls.py)."""

from django.urls import path

from studio.consumers import LiveConsumer, StudioConsumer

websocket_urlpatterns = [
    path("ws/live/<int:broadcast_id>/", LiveConsumer.as_asgi()),
    path("ws/studio/<int:broadcast_id>/", StudioConsumer.as_asgi()),
]
