"""The one masking rule (core/privacy.py) on the corpus of personal data as people type it."""

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
