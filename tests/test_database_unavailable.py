"""A write while the database is unreachable gets `unavailable` (retry later), never a 500 or an ack.

The real outage — PostgreSQL stopped and restarted under two daphne processes — is in
tests/test_fault_postgres.py; here the database error is injected, to check each endpoint's answer.
"""

import json

import pytest
from django.db import OperationalError
from django.test import Client

from moderation import asking
from moderation.models import Question

pytestmark = pytest.mark.django_db(transaction=True)


def refuse(*args, **kwargs):
    raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")


async def test_an_ask_during_an_outage_gets_unavailable_and_the_socket_stays_open(
    sockets, live_broadcast, monkeypatch
):
    viewer = await sockets.open(f"/ws/live/{live_broadcast.pk}/", headers=[(b"accept-language", b"en")])
    await viewer.receive_json_from()  # hello
    monkeypatch.setattr(asking, "ask_questions", refuse)
    await viewer.send_json_to({"type": "ask", "client_id": "q-1", "text": "公交什么时候改线？"})
    error = await viewer.receive_json_from()
    assert error["type"] == "error" and error["code"] == "unavailable" and error["ref"] == "q-1"
    assert error["retry_after"] == 2
    assert "again" in error["message"]
    await viewer.send_json_to({"type": "ping"})
    assert (await viewer.receive_json_from())["type"] == "pong"

    monkeypatch.undo()  # the database is back: the same client_id is stored, once
    await viewer.send_json_to({"type": "ask", "client_id": "q-1", "text": "公交什么时候改线？"})
    ack = await viewer.receive_json_from()
    while ack["type"] != "ask.ok":
        ack = await viewer.receive_json_from()
    assert ack["ref"] == "q-1"
    count = await Question.objects.filter(broadcast=live_broadcast).acount()
    assert count == 1


def test_an_http_ask_during_an_outage_is_503_with_retry_after(live_broadcast, monkeypatch):
    monkeypatch.setattr(asking, "ask_question", refuse)
    response = Client().post(
        f"/api/broadcasts/{live_broadcast.pk}/questions/",
        data=json.dumps({"client_id": "q-2", "text": "地铁几点收班？"}),
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    assert response.json()["error"]["code"] == "unavailable"
    assert "稍后" in response.json()["error"]["message"]
    assert not Question.objects.filter(broadcast=live_broadcast).exists()


def test_a_page_during_an_outage_is_a_503_page_not_a_500(live_broadcast, monkeypatch):
    from studio import views

    monkeypatch.setattr(views, "render", refuse)
    response = Client().get(f"/live/{live_broadcast.pk}/")
    assert response.status_code == 503
    assert response["Retry-After"] == "2"
