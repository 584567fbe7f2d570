"""GET /api/broadcasts/<id>/transcript/: question–answer pairs and host messages in log order."""

import pytest

from moderation.actions import approve_question, withdraw_event
from moderation.asking import ask_question
from studio import services as studio
from tests.conftest import make_broadcast

pytestmark = pytest.mark.django_db


@pytest.fixture
def programme(personas):
    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    host, guest = personas["host"], personas["guest"]
    studio.post_host_message(broadcast.pk, host, "h1", "欢迎收看")
    published, _ = ask_question(broadcast.pk, "q1", "一卡通怎么办？电话13812345678", "小王", "k", None)
    approve_question(broadcast.pk, published.pk, True)
    quiet, _ = ask_question(broadcast.pk, "q2", "<b>末班车</b>能延后吗？", "夜归人", "k", None)
    ask_question(broadcast.pk, "q3", "不会被回答", "*粗体*", "k", None)
    approve_question(broadcast.pk, quiet.pk, False)
    wrong = studio.post_answer(broadcast.pk, guest, "a0", published.pk, "说错了")
    withdraw_event(broadcast.pk, wrong.seq)
    studio.post_answer(broadcast.pk, guest, "a1", published.pk, "到地铁站客服中心办理。")
    studio.post_answer(broadcast.pk, guest, "a2", quiet.pk, "下月起延后半小时。")
    studio.post_answer(broadcast.pk, guest, "a3", None, "欢迎继续提问。")
    studio.set_status(broadcast.pk, host, "ended")
    return broadcast


def test_transcript_pairs_answers_with_their_questions_in_log_order(client, programme):
    data = client.get(f"/api/broadcasts/{programme.pk}/transcript/").json()
    kinds = [item["type"] for item in data["items"]]
    assert kinds == ["host", "question", "question", "statement"]
    first, second = data["items"][1], data["items"][2]
    assert [a["text"] for a in first["answers"]] == ["到地铁站客服中心办理。"]  # the withdrawn one is gone
    assert "13812345678" not in first["question"]["text"] and "138" in first["question"]["text"]
    # Approved without being shown on screen, but answered on air: it comes with its answer.
    assert second["question"]["text"] == "&lt;b&gt;末班车&lt;/b&gt;能延后吗？"
    assert [a["text"] for a in second["answers"]] == ["下月起延后半小时。"]
    assert data["items"][3]["answer"]["text"] == "欢迎继续提问。"


def test_transcript_as_markdown_reads_as_plain_text(client, programme):
    response = client.get(f"/api/broadcasts/{programme.pk}/transcript/?format=md")
    assert response["Content-Type"].startswith("text/markdown")
    text = response.content.decode()
    assert text.startswith(f"# 第{programme.number}期")
    assert "小王 问：** 一卡通怎么办？电话138" in text
    assert "> **" in text and "到地铁站客服中心办理。" in text
    # What a netizen typed never becomes markup where the file is rendered.
    assert "&lt;b&gt;末班车&lt;/b&gt;能延后吗？" in text and "<b>" not in text
    assert "说错了" not in text


def test_transcript_refuses_an_unknown_programme_and_an_unknown_format(client, programme):
    missing = client.get("/api/broadcasts/999999/transcript/")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    bad = client.get(f"/api/broadcasts/{programme.pk}/transcript/?format=pdf")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"


def test_the_transcript_page_shows_pairs_with_times_and_no_withdrawn_item(client, programme):
    page = client.get(f"/transcript/{programme.pk}/").content.decode()
    assert page.index("欢迎收看") < page.index("一卡通怎么办？") < page.index("到地铁站客服中心办理。")
    assert "说错了" not in page
    assert "13812345678" not in page
    assert "&lt;b&gt;末班车&lt;/b&gt;" in page  # escaped, never markup
    assert client.get("/transcript/999999/").status_code == 404


def test_hot_topics_rank_what_this_period_discusses_above_what_every_period_does(db, programme):
    import datetime as dt

    from django.utils import timezone

    from archive.topics import hot_topics
    from moderation.models import Question

    now = timezone.now()
    # Old weeks talk about 医保 and 停车; this week about 停车 and, above all, 供暖.
    for weeks_ago, words in [(3, ["医保", "停车"]), (2, ["医保", "停车"]), (0, ["供暖", "供暖", "停车"])]:
        for n, word in enumerate(words):
            Question.objects.create(
                broadcast=programme,
                client_id=f"t{weeks_ago}{n}",
                text=f"{word}的事情怎么解决",
                original_text="",
                nickname="网友",
                asked_at=now - dt.timedelta(weeks=weeks_ago, hours=1),
                published_seq=1000 + 10 * weeks_ago + n,  # topics count only what was shown
            )
    topics = hot_topics("week", now=now)
    terms = [t["term"] for t in topics]
    assert terms[0] == "供暖" and topics[0]["count"] == 2  # surged this week
    assert "医保" not in terms  # only discussed in earlier weeks
    parking = next((t for t in topics if t["term"] == "停车"), None)
    assert parking is None or parking["score"] < topics[0]["score"]  # discussed every week: sinks
