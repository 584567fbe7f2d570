"""minxin_client: a small asyncio client for Minxin's WebSocket endpoints (docs/PROTOCOL.md §1).

Built on the `websockets` library. A viewer follows a live programme across a list of server URLs:
after any drop it reconnects (the first attempt at a random moment within ``Backoff.spread``, 1 s,
so that an audience dropped at once does not return at once — within ``initial`` after a server's
"going away" close, 4503; then jittered, capped exponential backoff; next URL each attempt) and
resumes with ``?after=<last seq>``, so every event comes out once, in order::

    from minxin_client import Viewer

    async with Viewer(["http://127.0.0.1:8000", "http://127.0.0.1:8001"], 7, after=0) as viewer:
        ok = await viewer.ask("公交什么时候加密班次？")      # resent with its client_id until ask.ok
        async for event in viewer:                             # {"type": "event", "seq": 1, ...}
            print(event["seq"], event["kind"])

- ``Viewer(urls, broadcast_id, after=0)``: ``after=0`` replays the whole log, ``after=N`` resumes
  after seq N, ``after=None`` starts with live events only (from ``hello``'s ``last_seq``).
  Iterating yields ``event`` frames only; every other frame (``hello``, ``presence``,
  ``my_question``, ``support``…) goes to ``on_frame`` if given. A duplicate seq is dropped
  (``viewer.duplicates``); a gap (``viewer.gaps``) makes the viewer reconnect with
  ``?after=<last seq>`` so the server fills it. ``await viewer.follow(callback, stop=event,
  until_seq=N)`` runs the loop for you. ``client.drops`` lists each lost connection as
  (``time.monotonic()``, close code or None).
- ``await viewer.ask(text, client_id=None, nickname=None, consent=None)`` returns the ``ask.ok``
  frame (pass ``consent=True`` once your user agreed to the privacy notice; see PROTOCOL.md). The
  question is sent on the current connection and again, with the same ``client_id``, on every
  reconnect and every ``resend_after`` seconds until acknowledged (``ask`` is idempotent on
  ``client_id``); ``rate_limited``/``unavailable`` wait ``retry_after`` (counted in
  ``viewer.retries`` by code); any other refusal raises ``Refused``.
  ``my_question`` frames follow the asker's identity: without an identity ``cookie`` (the
  ``minxin_netizen=…`` that ``GET /api/netizen/`` sets, or a session's) and
  ``mine=True``, a reconnected viewer no longer hears about questions asked before the drop.
- ``StudioConsole(urls, broadcast_id, cookie=...)``: ``answer()``, ``host_message()``,
  ``start_programme()``, ``end_programme()``, each resent until ``ack`` (all idempotent
  server-side). ``ModerateConsole``: ``approve()``, ``reject()``, ``merge()``, ``edit()``,
  ``withdraw()``, sent once (a moderator action is not idempotent: a resend could meet
  ``conflict``). Iterating a console yields its pushed frames (``queue``, ``question.new``…).
- A frame that is not JSON, not an object, or (with ``validate=True``) not allowed by the frames'
  JSON Schema (shipped in the package, a copy of the server's docs/frames.schema.json) ends the
  client with ``ProtocolError``, raised from the iterator and from pending calls; a close with
  4401/4403/4404/4009 (or a 4xx handshake) raises ``Closed``; ``max_failures=N`` gives up after N
  failed connection attempts in a row (default: never). ``validate`` defaults to the environment
  variable ``MINXIN_CLIENT_VALIDATE=1`` (the test suite sets it); validation needs ``jsonschema``
  (``pip install "minxin-client[validate]"``) and is off the hot path otherwise.
"""

from minxin_client.client import (
    Backoff,
    ClientError,
    Closed,
    ModerateConsole,
    ProtocolError,
    Refused,
    StudioConsole,
    Viewer,
)

__all__ = [
    "Backoff",
    "ClientError",
    "Closed",
    "ModerateConsole",
    "ProtocolError",
    "Refused",
    "StudioConsole",
    "Viewer",
]
