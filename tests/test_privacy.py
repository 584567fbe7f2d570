"""The one masking rule (core/privacy.py) on the corpus of personal data as people type it."""

import datetime as dt
import json

import pytest

from core.privacy import find_personal_data, mask_personal_data, strip_personal_data
from tests.pii import CORPUS, leaks


@pytest.mark.parametrize(("kind", "typed", "secret"), CORPUS, ids=[typed for _k, typed, _s in CORPUS])
def test_personal_data_as_people_type_it_is_found_and_masked(kind, typed, secret):
    text = f"我的信息是{typed}，请尽快联系我。"
    assert find_personal_data(text) == [kind]
    masked = mask_personal_data(text)
    assert leaks(masked) == [], masked
    assert masked.startswith("我的信息是") and masked.endswith("，请尽快联系我。")
    assert find_personal_data(masked) == []  # masking twice changes nothing
    assert mask_personal_data(masked) == masked


def test_every_piece_in_one_text_is_masked_and_the_words_around_them_stay():
    text = "；".join(f"第{n}项{typed}" for n, (_k, typed, _s) in enumerate(CORPUS))
    masked = mask_personal_data(text)
    assert leaks(masked) == []
    assert all(f"第{n}项" in masked for n in range(len(CORPUS)))


def test_two_numbers_typed_one_after_another_are_masked_together():
    assert leaks(mask_personal_data("13812345678 13912345678")) == []
    assert leaks(mask_personal_data("2026 13812345678")) == []


@pytest.mark.parametrize(
    "text",
    [
        "请拨打12345市民服务热线",
        "地铁10号线2026年12月6日14:30起调整",
        "罚款2000元，第12345678号文件",
        "车牌京A12345，房间1203",
        "订单110105194912310021",  # 18 digits that fail the ID check digit and Luhn
        "今年预算为1,234,567,890元",
        "一二三四五六七八九十",
    ],
)
def test_numbers_that_are_not_personal_data_are_left_alone(text):
    assert find_personal_data(text) == []
    assert mask_personal_data(text) == text


def test_strip_leaves_no_digit_of_the_number_to_count_as_a_word():
    assert strip_personal_data("电话13812345678供暖") == "电话 供暖"


def test_hot_topics_count_only_what_was_shown_and_never_markup_or_personal_data(db, live_broadcast):
    from django.utils import timezone

    from archive.topics import hot_topics
    from moderation.actions import withdraw_event
    from moderation.models import Question
    from studio import events
    from studio.models import EventKind

    now = timezone.now()

    def question(n: int, text: str, published: bool) -> Question:
        seq = events.append_event(live_broadcast.pk, EventKind.HOST_MESSAGE, {"message": {}}).seq
        return Question.objects.create(
            broadcast=live_broadcast,
            client_id=f"q{n}",
            text=text,
            original_text=text,
            nickname="网友",
            asked_at=now,
            published_seq=seq if published else None,
        )

    question(1, "供暖温度不达标怎么办", published=True)
    question(2, "供暖费用能否减免", published=True)
    question(3, "<script>alert(1)</script>法轮功", published=False)  # rejected, never shown
    question(4, "身份证110101199003074514丢了", published=False)
    shown_then_withdrawn = question(5, "秘密话题秘密话题", published=True)
    withdraw_event(live_broadcast.pk, shown_then_withdrawn.published_seq)
    question(6, "我的电话13812345678，<b>停车</b>收费&amp;", published=True)

    terms = {t["term"] for t in hot_topics("week", now=now + dt.timedelta(minutes=1))}
    assert "供暖" in terms and "停车" in terms
    for never in ("script", "alert", "法轮功", "秘密", "身份证", "110101199003074514", "138", "amp", "b"):
        assert never not in terms, never


def test_the_migration_re_masks_question_events_already_stored(db, live_broadcast):
    import importlib

    from django.apps import apps

    from studio import events
    from studio.models import Event, EventKind

    event = events.append_event(
        live_broadcast.pk,
        EventKind.QUESTION,
        {"question": {"id": 1, "text": "电话138.1234.5678", "nickname": "王13912345678", "asked_at": ""}},
    )
    migration = importlib.import_module("archive.migrations.0004_mask_personal_data")
    migration.mask_events(apps, None)
    stored = Event.objects.get(pk=event.pk).data["question"]
    assert leaks(json.dumps(stored, ensure_ascii=False)) == []
    assert stored["text"].startswith("电话138") and stored["nickname"].startswith("王139")
