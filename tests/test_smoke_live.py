import json

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


async def test_viewer_gets_hello_and_a_posted_answer_live(sockets, live_broadcast, personas):
    viewer = await sockets.open(f"/ws/live/{live_broadcast.pk}/")
    hello = await viewer.receive_json_from(timeout=5)
    assert hello["type"] == "hello" and hello["broadcast"]["id"] == live_broadcast.pk
    guest = await sockets.open(f"/ws/studio/{live_broadcast.pk}/", user=personas["guest"])
    assert (await guest.receive_json_from(timeout=5)) == {"type": "queue", "questions": []}
    await guest.send_json_to({"type": "answer", "client_id": "a1", "question_id": None, "text": "大家好"})
    assert (await guest.receive_json_from(timeout=5)) == {"type": "ack", "ref": "a1"}
    event = json.loads(await viewer.receive_from(timeout=5))
    assert event["kind"] == "answer.posted" and event["seq"] == 1
    assert event["data"]["answer"]["text"] == "大家好"
