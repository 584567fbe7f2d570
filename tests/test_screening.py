"""Unit tests of automatic screening (moderation/screening.py) and rate limits (core/ratelimit.py).

Pure functions, no database, except the few tests of the per-process automaton that is built from
the banned-word lists in the database and rebuilt when their version in the cache changes.
"""

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
from django.core.cache import cache
from hypothesis import given, settings
from hypothesis import strategies as st

from core import clock as core_clock
from core import ratelimit
from moderation import screening
from moderation.screening import (
    BLOCK,
    REVIEW,
    WordMatcher,
    find_personal_data,
    mask_personal_data,
    normalize,
    screen,
    valid_id_number,
)

VALID_ID = "11010519491231002X"
INVALID_ID = "110105194912310021"  # the same number with a wrong check character


@pytest.fixture(scope="module")
def matcher() -> WordMatcher:
    return WordMatcher([("赌博", BLOCK), ("拆迁", REVIEW), ("BadWord", BLOCK), ("内幕", REVIEW)])


# --- normalisation ---------------------------------------------------------------------------


def test_full_width_letters_and_digits_become_plain_ascii():
    assert normalize("ＡＢ１２") == "ab12"


def test_upper_and_lower_case_compare_equal():
    assert normalize("BadWord") == normalize("bADwORD") == "badword"


@pytest.mark.parametrize(
    "noise",
    [" ", "\u3000", ".", "。", "*", "-", "_", "\u200b", "\u200d", "\ufeff", "\t", "·", "★"],
    ids=repr,
)
def test_characters_split_apart_by_spaces_punctuation_symbols_or_zero_width_are_joined(noise):
    assert normalize(f"赌{noise}博") == "赌博"


def test_traditional_characters_become_simplified():
    assert normalize("賭博 內幕 東西") == "赌博内幕东西"


def test_normalising_twice_changes_nothing_more():
    once = normalize("Ｂ a d—Ｗ\u200bｏｒｄ 賭博")
    assert normalize(once) == once


# --- banned words --------------------------------------------------------------------------


def test_a_clean_question_is_neither_blocked_nor_flagged(matcher):
    found = screen("地铁末班车能否延后到十二点？", matcher)
    assert found.blocked == [] and found.review == [] and found.flags == []


def test_a_block_list_word_blocks_the_question(matcher):
    found = screen("小区里有人聚众赌博", matcher)
    assert found.blocked == ["赌博"]


def test_a_review_list_word_flags_the_question_as_sensitive_with_the_word(matcher):
    found = screen("旧城拆迁补偿标准是多少？", matcher)
    assert found.blocked == []
    assert found.flags == ["sensitive:拆迁"]


def test_each_review_word_is_flagged_once_even_when_repeated(matcher):
    found = screen("拆迁拆迁，还有内幕，拆 迁", matcher)
    assert found.flags == ["sensitive:拆迁", "sensitive:内幕"]


@pytest.mark.parametrize(
    "text",
    [
        "赌 博",
        "赌.博",
        "赌\u200b博",
        "賭博",
        "賭\u3000博",
        "Ｂａｄ Ｗｏｒｄ",
        "BADWORD",
        "b-a-d-w-o-r-d",
        "b\u200ba\u200bd\u200bword",
    ],
    ids=repr,
)
def test_usual_evasions_of_a_blocked_word_are_still_blocked(matcher, text):
    assert screen(f"问一下{text}的事", matcher).blocked


@pytest.mark.parametrize("text", ["拆 迁", "拆\u200b迁", "拆、迁"], ids=repr)
def test_usual_evasions_of_a_review_word_are_still_flagged(matcher, text):
    assert screen(text, matcher).flags == ["sensitive:拆迁"]


@pytest.mark.parametrize("text", ["意见很大。麻烦尽快处理", "压力很大，麻烦您解释", "大！麻"], ids=repr)
def test_a_blocked_word_found_only_across_a_clause_break_is_flagged_for_review_not_blocked(text):
    # "意见很大。麻烦…" is two clauses, not 大麻: the netizen is not refused; the moderator decides.
    found = screen(text, WordMatcher([("大麻", BLOCK)]))
    assert found.blocked == [] and found.flags == ["sensitive:大麻"]


def test_a_blocked_word_split_by_a_mere_space_or_symbol_is_still_blocked():
    for text in ("大 麻", "大　麻", "大*麻", "大·麻"):
        assert screen(text, WordMatcher([("大麻", BLOCK)])).blocked == ["大麻"], text


def test_a_plain_blocked_word_is_blocked_even_after_the_same_word_appeared_across_a_clause_break():
    found = screen("意见很大。麻烦查查有人卖大麻", WordMatcher([("大麻", BLOCK)]))
    assert found.blocked == ["大麻"]


def test_a_word_on_both_a_block_and_a_review_list_blocks():
    for words in ([("赌博", REVIEW), ("赌博", BLOCK)], [("赌博", BLOCK), ("赌博", REVIEW)]):
        found = screen("赌博", WordMatcher(words))
        assert found.blocked == ["赌博"] and found.review == []


def test_a_banned_word_written_with_evasions_itself_matches_the_plain_word():
    # An editor who types the word full-width or traditional still bans the ordinary spelling.
    found = screen("有人赌博", WordMatcher([("賭 博", BLOCK)]))
    assert found.blocked == ["賭 博"]


def test_an_empty_or_pure_punctuation_word_matches_nothing():
    words = WordMatcher([("", BLOCK), ("。。", BLOCK), (" ", REVIEW)])
    assert words.size == 0
    assert screen("普通的问题。。 ", words).flags == [] and screen("普通的问题", words).blocked == []


def test_an_empty_matcher_passes_every_text():
    assert screen("赌博", WordMatcher([])).blocked == []


def test_ten_thousand_words_screen_a_question_at_once():
    words = WordMatcher([(f"禁词{n:05d}", BLOCK) for n in range(10_000)] + [("拆迁", REVIEW)])
    assert words.size == 10_001
    found = screen("关于禁词09999和拆迁", words)
    assert found.blocked == ["禁词09999"] and found.flags == ["sensitive:拆迁"]


# --- personal data -------------------------------------------------------------------------


def test_the_sample_resident_id_number_has_a_valid_check_character():
    assert valid_id_number(VALID_ID)
    assert valid_id_number(VALID_ID.lower())
    assert not valid_id_number(INVALID_ID)


@pytest.mark.parametrize(
    "text, kind",
    [
        ("我的手机13812345678请回电", "mobile"),
        ("电话 138-1234-5678", "mobile"),
        ("电话+86 138 1234 5678", "mobile"),
        ("半角全角混写138１２３４ ５６７８", "mobile"),
        ("座机010-12345678", "landline"),
        ("座机0755 1234567", "landline"),
        (f"身份证{VALID_ID}", "id_number"),
        ("身份证11010519491231002x", "id_number"),
        ("邮箱 zhang.san+bus@example.com.cn", "email"),
    ],
)
def test_personal_data_is_recognised(text, kind):
    assert find_personal_data(text) == [kind]
    assert screen(text, WordMatcher([])).flags == ["personal_data"]


@pytest.mark.parametrize(
    "text",
    [
        "手机１３８１２３４５６７８",
        "座机０１０-１２３４５６７８",
        "身份证１１０１０５１９４９１２３１００２Ｘ",
    ],
)
def test_personal_data_typed_in_full_width_digits_is_recognised_and_masked(text):
    assert find_personal_data(text) != []
    assert "５６７８" not in mask_personal_data(text) and "１００２" not in mask_personal_data(text)


@pytest.mark.parametrize(
    "text",
    [
        f"编号{INVALID_ID}",  # fails the check digit
        "第12345678号文件",  # no leading 0 or 1x
        "12812345678",  # 12x is not a mobile prefix
        "138123456789",  # one digit too many
        "2025年11月26日14点",
        "邮箱是 someone@",
    ],
)
def test_numbers_that_are_not_personal_data_are_not_flagged(text):
    assert find_personal_data(text) == []


def test_an_id_number_is_reported_once_not_also_as_the_phone_numbers_inside_it():
    assert find_personal_data(f"{VALID_ID} 和 13812345678 以及 a@b.cn") == ["email", "id_number", "mobile"]


def test_a_mobile_number_is_masked_keeping_its_first_three_and_last_two_digits():
    assert mask_personal_data("请打13812345678联系我") == "请打138******78联系我"


def test_an_email_address_is_masked_down_to_its_first_letter():
    assert mask_personal_data("写信给 zhang@example.com 谢谢") == "写信给 z***@*** 谢谢"


def test_every_piece_of_personal_data_in_a_text_is_masked_and_nothing_else_changes():
    text = f"身份证{VALID_ID}，电话010-12345678，手机13812345678。地铁几点收车？"
    masked = mask_personal_data(text)
    for secret in (VALID_ID, "12345678", "13812345678", "1949"):
        assert secret not in masked
    assert masked.startswith("身份证110") and masked.endswith("。地铁几点收车？")
    assert find_personal_data(masked) == []


def test_an_invalid_id_number_is_not_masked():
    assert mask_personal_data(f"编号{INVALID_ID}") == f"编号{INVALID_ID}"


# --- suggested duplicates ------------------------------------------------------------------


def similar(a: str, b: str) -> float:
    """Jaccard similarity of the texts' character bigrams, by its plain definition: the oracle that
    moderation.similar.similar_to's cheaper computation is checked against."""
    grams_a, grams_b = screening.bigrams(a), screening.bigrams(b)
    return len(grams_a & grams_b) / len(grams_a | grams_b)


def test_identical_questions_are_fully_similar_whatever_their_punctuation_and_width():
    assert similar("地铁末班车能否延后？", "地铁 末班车，能否延后") == 1.0


def test_a_reworded_question_is_similar_enough_to_be_suggested():
    assert similar("地铁末班车能否延后到十二点？", "地铁末班车能不能延后到十二点") >= 0.5


def test_unrelated_questions_are_not_similar():
    assert similar("地铁末班车能否延后？", "小区停车位太少怎么办？") < 0.2


def test_single_characters_are_compared_too():
    assert similar("好", "好") == 1.0 and similar("好", "坏") == 0.0


# --- rate limits ---------------------------------------------------------------------------


class Clock:
    """Holds the one clock (core/clock.py) at `now`, in seconds since the epoch."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.now, dt.UTC)


@pytest.fixture
def clock() -> Iterator[Clock]:
    fake = Clock(1_800_000_000.0)  # a whole number of minutes and hours
    with core_clock.use(fake):
        yield fake


@pytest.fixture
def who() -> str:
    return "netizen-" + uuid.uuid4().hex


def test_actions_within_the_limit_pass_and_the_next_one_is_told_how_long_to_wait(clock, who):
    clock.now += 20.3
    assert [ratelimit.hit("ask", who, [(60, 3)]) for _ in range(3)] == [None, None, None]
    wait = ratelimit.hit("ask", who, [(60, 3)])
    assert isinstance(wait, int) and wait == 40  # 39.7 s to the next minute, rounded up


def test_refused_attempts_count_too_so_hammering_stays_refused(clock, who):
    for _ in range(10):
        ratelimit.hit("ask", who, [(60, 3)])
    clock.now += 30
    assert ratelimit.hit("ask", who, [(60, 3)]) == 31


def test_a_new_window_lets_the_netizen_act_again(clock, who):
    for _ in range(4):
        ratelimit.hit("ask", who, [(60, 3)])
    clock.now += 60
    assert ratelimit.hit("ask", who, [(60, 3)]) is None


def test_netizens_are_counted_separately(clock, who):
    for _ in range(3):
        ratelimit.hit("ask", who, [(60, 3)])
    assert ratelimit.hit("ask", who + "-other", [(60, 3)]) is None
    assert ratelimit.hit("ask", who, [(60, 3)]) is not None


def test_different_actions_are_counted_separately(clock, who):
    for _ in range(3):
        ratelimit.hit("ask", who, [(60, 3)])
    assert ratelimit.hit("support", who, [(60, 3)]) is None


def test_with_several_windows_the_longest_wait_is_reported(clock, who):
    limits = [(60, 5), (3600, 2)]
    assert ratelimit.hit("ask", who, limits) is None
    assert ratelimit.hit("ask", who, limits) is None
    assert ratelimit.hit("ask", who, limits) == 3601  # the hour is exceeded, the minute is not
    clock.now += 120  # a new minute, the same hour
    assert ratelimit.hit("ask", who, limits) == 3601 - 120


def test_the_wait_is_always_a_positive_whole_number_of_seconds(who):
    # With the real clock, wherever in the window the test happens to run.
    for _ in range(2):
        ratelimit.hit("ask", who, [(1, 1)])
    waits = [ratelimit.hit("ask", who, [(60, 1)]) for _ in range(3)]
    assert waits[0] is None or waits[0] > 0
    assert all(isinstance(w, int) and 1 <= w <= 61 for w in waits[1:])


def test_the_counters_live_in_the_shared_cache(clock, who):
    for _ in range(2):
        ratelimit.hit("ask", who, [(60, 5)])
    bucket = int(clock.now // 60)
    assert cache.get(f"minxin:rl:ask:60:{who}:{bucket}") == 2


# --- the automaton built from the database -------------------------------------------------


@pytest.fixture
def word_lists(db):
    """Two lists in the database; every process's automaton is told to rebuild before and after."""
    from moderation.models import BannedWord, BannedWordList

    blocked = BannedWordList.objects.create(name="违法", level=BLOCK)
    review = BannedWordList.objects.create(name="敏感", level=REVIEW)
    BannedWord.objects.create(word_list=blocked, word="赌博")
    BannedWord.objects.create(word_list=review, word="拆迁")
    screening.words_changed()
    yield blocked, review
    screening.words_changed()


def test_the_automaton_is_built_from_the_active_lists_in_the_database(word_lists):
    found = screen("赌博和拆迁", screening.current_matcher())
    assert found.blocked == ["赌博"] and found.flags == ["sensitive:拆迁"]


def test_the_automaton_is_reused_while_the_lists_are_unchanged(word_lists):
    assert screening.current_matcher() is screening.current_matcher()


def test_a_word_added_and_announced_is_screened_at_once(word_lists):
    from moderation.models import BannedWord

    BannedWord.objects.create(word_list=word_lists[0], word="传销")
    screening.words_changed()
    assert screen("有人搞传 销", screening.current_matcher()).blocked == ["传销"]


def test_a_deactivated_list_stops_screening_once_announced(word_lists):
    word_lists[0].active = False
    word_lists[0].save()
    screening.words_changed()
    assert screen("赌博", screening.current_matcher()).blocked == []


def test_an_emptied_cache_makes_every_process_rebuild_its_automaton(word_lists):
    from moderation.models import BannedWord

    before = screening.current_matcher()
    BannedWord.objects.create(word_list=word_lists[1], word="内幕")
    cache.clear()
    after = screening.current_matcher()
    assert after is not before
    assert screen("内幕", after).flags == ["sensitive:内幕"]


# --- suggested duplicates: the fast filter finds exactly what the plain Jaccard test finds ----


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(alphabet="公交地铁线路延长班次请问能否学校医保电梯，。？ab", min_size=1, max_size=30),
    others=st.lists(
        st.text(alphabet="公交地铁线路延长班次请问能否学校医保电梯，。？ab", min_size=1, max_size=30),
        max_size=40,
    ),
)
def test_suggested_duplicates_are_those_at_or_over_the_jaccard_threshold(text, others):
    from moderation.similar import SIMILAR_THRESHOLD, similar_to

    recent = [(n, screening.bigrams(other)) for n, other in enumerate(others)]
    expected = [n for n, other in enumerate(others) if similar(text, other) >= SIMILAR_THRESHOLD][:5]
    assert similar_to(text, recent) == expected
