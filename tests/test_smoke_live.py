import json

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


async def test_viewer_gets_hello_and_a_posted_answer_live(sockets, live_broadcast, personas):
    viewer = await sockets.open(f"/ws/live/{live_broadcast.pk}/")
    hello = await viewer.receive_json_from(timeout=5)
    assert hello["type"] == "hello" and hello["broadcast"]["id"] == live_broadcast.pk
    guest = await sockets.open(f"/ws/studio/{live_broadcast.pk}/", user=personas["guest"])
    assert (await guest.receive_json_from(timeout=5)) == {"type": "queue", "questions": []}
    assert (await guest.receive_json_from(timeout=5)) == {"type": "status", "status": "live"}
    await guest.send_json_to({"type": "answer", "client_id": "a1", "question_id": None, "text": "大家好"})
    assert (await guest.receive_json_from(timeout=5)) == {"type": "ack", "ref": "a1"}
    event = json.loads(await viewer.receive_from(timeout=5))
    assert event["kind"] == "answer.posted" and event["seq"] == 1
    assert event["data"]["answer"]["text"] == "大家好"


@pytest.mark.redis
async def test_a_staff_console_round_trip_goes_through_the_real_redis_channel_layer(
    sockets, live_broadcast, personas
):
    from channels.db import database_sync_to_async
    from channels.layers import get_channel_layer
    from channels_redis.core import RedisChannelLayer

    from moderation.actions import approve_question
    from moderation.asking import ask_question

    assert isinstance(get_channel_layer(), RedisChannelLayer)
    guest = await sockets.open(f"/ws/studio/{live_broadcast.pk}/", user=personas["guest"])
    assert (await guest.receive_json_from(timeout=5))["type"] == "queue"
    assert (await guest.receive_json_from(timeout=5))["type"] == "status"
    question, _ = await database_sync_to_async(ask_question)(
        live_broadcast.pk, "q-redis", "地铁末班车能否延后？", "夜归人", "k1", None
    )
    # approve_question publishes on commit through channels_redis' group_send to the console.
    await database_sync_to_async(approve_question)(live_broadcast.pk, question.pk, False, by="mona")
    pushed = await guest.receive_json_from(timeout=5)
    assert pushed["type"] == "question.approved"
    assert pushed["question"]["id"] == question.pk and pushed["question"]["text"] == "地铁末班车能否延后？"
