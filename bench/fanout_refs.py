"""The two reference servers of the fan-out benchmark (bench/fanout.py).

- ``textbook_application``: the design of the Channels tutorial. Each viewer's
  ``AsyncJsonWebsocketConsumer`` joins a channels_redis group on connect; the bench calls
  ``group_send`` once per message and every consumer's handler encodes the JSON and sends it
  itself. Same stack in front as the project (``AllowedHostsOriginValidator(AuthMiddlewareStack(...))``).
  Served by daphne: ``daphne -b 127.0.0.1 -p PORT bench.fanout_refs:textbook_application``
  with ``FANOUT_REDIS_URL`` in the environment. Django is configured in code (no project settings).

  The layer gets the two settings that FANOUT-BASELINE.md found to break first with redis-py 8.1's
  defaults, as the project's own settings do (``socket_timeout=None``, ``max_connections=2000``),
  so that this reference measures the design's cost, not a dropped viewer.

- the ``websockets`` ceiling: ``python -m bench.fanout_refs broadcast --port PORT``, one process,
  ``websockets.asyncio.server.serve`` and ``broadcast()``. Viewers connect to any path except
  ``/trigger``; each text frame sent on ``/trigger`` is decoded, encoded once and broadcast to
  every viewer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
from typing import Any

LAYER_CONFIG_EXTRA = {"socket_timeout": None, "max_connections": 2000}


# --- textbook Channels -------------------------------------------------------------------------


def _build_textbook_application() -> Any:
    import django
    from django.conf import settings

    redis_url = os.environ["FANOUT_REDIS_URL"]
    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="bench",
            ALLOWED_HOSTS=["127.0.0.1", "localhost"],
            INSTALLED_APPS=[
                "django.contrib.contenttypes",
                "django.contrib.auth",
                "django.contrib.sessions",
                "channels",
            ],
            # The tutorial's app has a database; a viewer never queries it, but Channels' dispatch
            # still hops to a thread to close old connections before every handler call.
            DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
            USE_TZ=True,
            CHANNEL_LAYERS={
                "default": {
                    "BACKEND": "channels_redis.core.RedisChannelLayer",
                    "CONFIG": {"hosts": [{"address": redis_url, **LAYER_CONFIG_EXTRA}]},
                }
            },
            LOGGING_CONFIG=None,
        )
    django.setup()

    from channels.auth import AuthMiddlewareStack
    from channels.generic.websocket import AsyncJsonWebsocketConsumer
    from channels.routing import ProtocolTypeRouter, URLRouter
    from channels.security.websocket import AllowedHostsOriginValidator
    from django.urls import path

    class TextbookViewer(AsyncJsonWebsocketConsumer):
        async def connect(self) -> None:
            self.group = self.scope["url_route"]["kwargs"]["group"]
            await self.channel_layer.group_add(self.group, self.channel_name)
            await self.accept()

        async def disconnect(self, code: int) -> None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

        async def bench_message(self, event: dict) -> None:
            await self.send_json(event["frame"])

    return ProtocolTypeRouter(
        {
            "websocket": AllowedHostsOriginValidator(
                AuthMiddlewareStack(URLRouter([path("ws/textbook/<str:group>/", TextbookViewer.as_asgi())]))
            )
        }
    )


_textbook: Any = None


def __getattr__(name: str) -> Any:
    # Built on first access, so that importing this module (the bench does) configures no Django.
    global _textbook
    if name == "textbook_application":
        if _textbook is None:
            _textbook = _build_textbook_application()
        return _textbook
    raise AttributeError(name)


def textbook_layer(redis_url: str) -> Any:
    """The sender's side of the textbook design: a layer on the same Redis as the daphne process."""
    from channels_redis.core import RedisChannelLayer

    return RedisChannelLayer(hosts=[{"address": redis_url, **LAYER_CONFIG_EXTRA}])


# --- the websockets.broadcast() ceiling ----------------------------------------------------------


async def serve_broadcast(port: int) -> None:
    from websockets.asyncio.server import broadcast, serve

    viewers: set = set()

    async def handler(connection: Any) -> None:
        if connection.request.path == "/trigger":
            async for message in connection:
                frame = json.loads(message)
                broadcast(viewers, json.dumps(frame, ensure_ascii=False, separators=(",", ":")))
            return
        viewers.add(connection)
        try:
            await connection.wait_closed()
        finally:
            viewers.discard(connection)

    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(handler, "127.0.0.1", port, compression=None):
        print(f"listening on 127.0.0.1:{port}", flush=True)
        await stop


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("server", choices=["broadcast"])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(serve_broadcast(args.port))


if __name__ == "__main__":
    main()
