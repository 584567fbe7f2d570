"""The archive: an answer for every question (件件有着落), transcript search in Chinese (each line of
docs/SEARCH.md is a test here) and the seed's statistics (GET /api/stats/, cached, refreshed by
the clock). Replay and the transcript API are in test_transcript.py and test_browser_replay.py."""

import datetime as dt
import json
import secrets
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from archive import bridge, stats
from archive.models import QuestionLetter, TranscriptEntry
from departments.models import Department
from letters import services as letters
from letters.models import Letter, LetterStatus
from moderation.actions import approve_question, merge_question, reject_question, withdraw_event
from moderation.asking import ask_question
from moderation.models import QuestionStatus
from moderation.supports import support_question
from studio import services as studio
from studio.models import Broadcast, Event, EventKind, Guest
from tests.conftest import make_broadcast

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    """Statistics and rate limits live in the cache, which the database rollback does not empty."""
    cache.clear()


def ask(broadcast: Broadcast, text: str, nickname: str = "网友", key: str = "k1"):
    question, _ = ask_question(broadcast.pk, secrets.token_hex(8), text, nickname, key, None)
    return question


def approved(broadcast: Broadcast, text: str, nickname: str = "网友", key: str = "k1", publish: bool = True):
    question = ask(broadcast, text, nickname, key)
    return approve_question(broadcast.pk, question.pk, publish)


def answer(broadcast: Broadcast, guest, question_id: int | None, text: str):
    return studio.post_answer(broadcast.pk, guest, secrets.token_hex(8), question_id, text)


def end(broadcast: Broadcast, host) -> Broadcast:
    return studio.set_status(broadcast.pk, host, "ended")


# --- 件件有着落: every approved question no guest answered becomes a letter ------------------------


LONG = "地铁夜间能不能延长运营时间？加班到十一点以后经常赶不上末班车，只能打车回家，太贵了。"


def test_ending_a_programme_turns_each_unanswered_approved_question_into_one_forwarded_letter(
    personas, live_broadcast
):
    host, guest = personas["host"], personas["guest"]
    short = approved(live_broadcast, "公交一卡通在外地能用吗？", "通州小王", "k1")
    long = approved(live_broadcast, LONG, "夜归人", "k2", publish=False)
    done = approved(live_broadcast, "老年人乘车优惠怎么申请？", "东城李阿姨", "k3")
    answer(live_broadcast, guest, done.pk, "持养老助残卡可免费乘坐地面公交。")
    rejected = ask(live_broadcast, "广告广告", key="k4")
    reject_question(live_broadcast.pk, rejected.pk, "无关内容")
    merged = ask(live_broadcast, "一卡通外地能不能刷？", key="k5")
    merge_question(live_broadcast.pk, merged.pk, short.pk)
    pending = ask(live_broadcast, "还没审核的问题", key="k6")

    end(live_broadcast, host)

    links = {link.question_id: link.letter for link in QuestionLetter.objects.select_related("letter")}
    assert set(links) == {short.pk, long.pk}
    assert Letter.objects.count() == 2
    for question in (done, rejected, merged, pending):
        assert question.pk not in links
    jtw = Department.objects.get(code="jtw")
    for question, nickname in ((short, "通州小王"), (long, "夜归人")):
        letter = links[question.pk]
        assert letter.kind == "consultation" and letter.public
        assert letter.status == LetterStatus.FORWARDED
        assert letter.department == jtw and letter.forwarded_at is not None
        assert letter.light == "green"
        assert letter.sign_deadline is not None and letter.sign_deadline > timezone.now()
        assert letter.name == nickname
        assert question.text in letter.body and f"第{live_broadcast.number}期" in letter.body
    assert links[short.pk].subject == "公交一卡通在外地能用吗？"
    assert links[long.pk].subject == LONG[:30] + "…"
    # The letter's log says who wrote it on the netizen's behalf and where it went.
    actions = list(links[short.pk].log.order_by("id").values_list("action", "by"))
    assert actions == [("submit", bridge.BY), ("forward", bridge.BY)]


def test_ending_a_programme_twice_creates_no_second_letter(personas, live_broadcast):
    approved(live_broadcast, "公交一卡通在外地能用吗？")
    end(live_broadcast, personas["host"])
    end(live_broadcast, personas["host"])
    assert Letter.objects.count() == 1 and QuestionLetter.objects.count() == 1
    # Even the receiver itself, run again, finds nothing left to turn into a letter.
    assert bridge.letters_for_unanswered(Broadcast.objects.get(pk=live_broadcast.pk)) == 0
    assert Letter.objects.count() == 1


def test_a_programme_whose_letters_cannot_be_written_does_not_end(personas, live_broadcast, monkeypatch):
    approved(live_broadcast, "公交一卡通在外地能用吗？")
    events_before = Event.objects.filter(broadcast=live_broadcast).count()

    def broken(**kwargs):
        raise RuntimeError("letter module down")

    monkeypatch.setattr("archive.bridge.submit_forwarded", broken)
    with pytest.raises(RuntimeError):
        end(live_broadcast, personas["host"])

    live_broadcast.refresh_from_db()
    assert live_broadcast.status == "live" and live_broadcast.ended_at is None
    assert Event.objects.filter(broadcast=live_broadcast).count() == events_before
    assert not Event.objects.filter(broadcast=live_broadcast, kind=EventKind.STATUS).exists()
    assert not Letter.objects.exists() and not QuestionLetter.objects.exists()
    assert not TranscriptEntry.objects.exists()

    # Once the letter module works again, the host can end it, and the question gets its letter.
    monkeypatch.undo()
    end(live_broadcast, personas["host"])
    assert QuestionLetter.objects.count() == 1


def post_question(client: Client, broadcast_id: int, text: str) -> int:
    response = client.post(
        f"/api/broadcasts/{broadcast_id}/questions/",
        data=json.dumps({"client_id": secrets.token_hex(8), "text": text, "nickname": "夜归人"}),
        content_type="application/json",
    )
    assert response.status_code == 201
    return response.json()["question_id"]


def my_questions(client: Client, broadcast_id: int) -> dict[int, dict]:
    response = client.get(f"/api/broadcasts/{broadcast_id}/my-questions/")
    assert response.status_code == 200
    return {q["question_id"]: q for q in response.json()["questions"]}


def test_the_netizen_follows_its_unanswered_question_to_the_letter_and_its_reply(personas, live_broadcast):
    netizen = Client()
    waiting = post_question(netizen, live_broadcast.pk, "地铁夜间能不能延长运营时间？")
    answered = post_question(netizen, live_broadcast.pk, "公交一卡通在外地能用吗？")
    for question_id in (waiting, answered):
        approve_question(live_broadcast.pk, question_id, True)
    answer(live_broadcast, personas["guest"], answered, "带交通联合标识的可以。")
    approved(live_broadcast, "别人的问题", key="someone-else")
    assert my_questions(netizen, live_broadcast.pk)[waiting]["status"] == "approved"
    assert "letter" not in my_questions(netizen, live_broadcast.pk)[waiting]

    end(live_broadcast, personas["host"])

    mine = my_questions(netizen, live_broadcast.pk)
    assert set(mine) == {waiting, answered}  # only this session's questions
    assert "letter" not in mine[answered]
    letter = Letter.objects.get(question_link__question_id=waiting)
    assert mine[waiting]["letter"] == {
        "code": letter.code,
        "status": "forwarded",
        "department": Department.objects.get(code="jtw").name,
        "reply": None,
    }
    # Another browser sees none of it.
    assert my_questions(Client(), live_broadcast.pk) == {}

    letters.sign(letter.code, personas["handler_a"])
    assert my_questions(netizen, live_broadcast.pk)[waiting]["letter"]["status"] == "signed"
    letters.reply(letter.code, "自下月起，地铁1号线周五、周六延长运营一小时。", personas["handler_a"])
    shown = my_questions(netizen, live_broadcast.pk)[waiting]["letter"]
    assert shown["status"] == "replied"
    assert "自下月起，地铁1号线周五、周六延长运营一小时。" in shown["reply"]


# --- search: each line of docs/SEARCH.md -------------------------------------------------------


@pytest.fixture
def archive(personas, other_broadcast):
    """Two ended programmes whose transcripts hold exactly the sentences of docs/SEARCH.md."""
    host, guest = personas["host"], personas["guest"]
    jtw = make_broadcast("jtw", host, [guest], status="live", title="公交线网优化与一卡通使用")
    studio.post_host_message(jtw.pk, host, "h1", "今天的话题是公交线网优化")
    card = approved(jtw, "公交一卡通在外地能用吗？", "通州小王")
    answer(jtw, guest, card.pk, "一卡通可以在地铁站客服中心办理")
    late = approved(jtw, "地铁末班车能否延后", "夜归人", key="k2")
    wrong = answer(jtw, guest, late.pk, "这条线路将停运")
    withdraw_event(jtw.pk, wrong.seq)
    answer(jtw, guest, late.pk, "下月起延后半小时")
    end(jtw, host)

    swj = other_broadcast
    rain = approved(swj, "汛期排水怎么保障？", "丰台网友", key="k3")
    answer(swj, personas["other_guest"], rain.pk, "泵站已完成扩容")
    end(swj, host)
    return {"jtw": jtw, "swj": swj}


def search(client: Client, q: str, **params: str) -> list[dict]:
    response = client.get("/api/search/", {"q": q, **params})
    assert response.status_code == 200, response.content
    return response.json()["results"]


def snippets(client: Client, q: str, **params: str) -> list[str]:
    return [r["snippet"] for r in search(client, q, **params)]


def test_yikatong_finds_the_question_that_holds_the_word(client, archive):
    results = search(client, "一卡通")
    assert {r["snippet"] for r in results} == {
        "公交<mark>一卡通</mark>在外地能用吗？",
        "<mark>一卡通</mark>可以在地铁站客服中心办理",
    }
    question = next(r for r in results if r["kind"] == "question")
    assert question["broadcast"] == {
        "id": archive["jtw"].pk,
        "number": archive["jtw"].number,
        "title": "公交线网优化与一卡通使用",
    }
    assert question["department"]["code"] == "jtw"
    assert question["seq"] > 0 and question["at"].endswith("+08:00")


def test_gongjiao_finds_both_the_card_question_and_the_host_message_about_the_network(client, archive):
    results = search(client, "公交")
    assert {(r["kind"], r["snippet"]) for r in results} == {
        ("question", "<mark>公交</mark>一卡通在外地能用吗？"),
        ("host", "今天的话题是<mark>公交</mark>线网优化"),
    }


def test_mobanche_finds_the_late_train_question_as_a_whole_word(client, archive):
    assert snippets(client, "末班车") == ["地铁<mark>末班车</mark>能否延后"]


def test_banche_finds_the_late_train_question_through_the_inner_word_search_mode_indexed(client, archive):
    assert snippets(client, "班车") == ["地铁末<mark>班车</mark>能否延后"]


def test_gongjiaoka_does_not_find_the_yikatong_question_because_synonyms_are_unknown(client, archive):
    assert client.get("/api/search/", {"q": "公交卡"}).json()["words"] == ["公交", "卡"]
    assert not any("一卡通在外地" in s for s in snippets(client, "公交卡"))


def test_yika_does_not_find_yikatong_because_matching_is_by_words_not_substrings(client, archive):
    assert snippets(client, "一卡") == []


def test_zenme_banli_yikatong_drops_the_question_word_and_needs_both_banli_and_yikatong(client, archive):
    response = client.get("/api/search/", {"q": "怎么办理一卡通"}).json()
    assert response["words"] == ["办理", "一卡通"]
    # The answer holds both words; the question holds 一卡通 but not 办理.
    assert [r["snippet"] for r in response["results"]] == [
        "<mark>一卡通</mark>可以在地铁站客服中心<mark>办理</mark>"
    ]


def test_paishui_finds_the_flood_question_as_a_whole_word(client, archive):
    results = search(client, "排水")
    assert [r["snippet"] for r in results] == ["汛期<mark>排水</mark>怎么保障？"]
    assert results[0]["department"]["code"] == "swj"


def test_a_query_of_only_question_words_falls_back_to_the_words_themselves(client, archive):
    response = client.get("/api/search/", {"q": "怎么"}).json()
    assert response["words"] == ["怎么"]
    assert [r["snippet"] for r in response["results"]] == ["汛期排水<mark>怎么</mark>保障？"]


def test_withdrawn_items_are_never_found(client, archive):
    assert snippets(client, "停运") == []
    assert sorted(snippets(client, "延后")) == [
        "下月起<mark>延后</mark>半小时",
        "地铁末班车能否<mark>延后</mark>",
    ]


def test_a_live_programme_is_searchable_only_once_it_has_ended(client, personas):
    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    approved(broadcast, "地铁末班车能否延后")
    assert snippets(client, "末班车") == []
    end(broadcast, personas["host"])
    assert snippets(client, "末班车") == ["地铁<mark>末班车</mark>能否延后"]


def test_search_narrows_to_one_department(client, archive):
    assert len(search(client, "排水", department="swj")) == 1
    assert search(client, "排水", department="jtw") == []
    assert {r["department"]["code"] for r in search(client, "公交", department="jtw")} == {"jtw"}


def test_search_narrows_to_a_date_range_in_local_days(client, archive):
    today = timezone.localdate()
    tomorrow, yesterday = today + dt.timedelta(days=1), today - dt.timedelta(days=1)
    assert len(search(client, "排水", **{"from": today.isoformat(), "to": today.isoformat()})) == 1
    assert len(search(client, "排水", **{"from": yesterday.isoformat()})) == 1
    assert search(client, "排水", **{"from": tomorrow.isoformat()}) == []
    assert search(client, "排水", to=yesterday.isoformat()) == []


@pytest.mark.parametrize(
    "params",
    [
        {"q": "排水", "from": "2026-02-30"},
        {"q": "排水", "to": "yesterday"},
        {"q": "排水", "from": "2026/06/01"},
        {"q": ""},
        {"q": "   "},
        {},
        {"q": "排" * 101},
    ],
    ids=["impossible-date", "word-for-date", "slashes", "empty", "blank", "missing", "over-100-chars"],
)
def test_search_refuses_bad_input_with_400(client, archive, params):
    response = client.get("/api/search/", params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


def test_a_query_of_exactly_100_characters_is_accepted(client, archive):
    assert client.get("/api/search/", {"q": "排" * 100}).status_code == 200


def test_a_hostile_query_comes_back_as_escaped_snippets(client, personas):
    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    approved(broadcast, "<script>alert(1)</script>一卡通丢了怎么补")
    end(broadcast, personas["host"])
    response = client.get("/api/search/", {"q": "<script>"})
    assert response.status_code == 200
    [result] = response.json()["results"]
    assert "<script" not in result["snippet"] and "</script" not in result["snippet"]
    assert result["snippet"].startswith("&lt;<mark>script</mark>&gt;alert(1)&lt;/<mark>script</mark>&gt;")
    # Markup a netizen typed is not mistaken for the highlight either.
    assert snippets(client, "<mark>") == []


def test_a_word_that_is_also_an_entity_name_is_marked_only_where_the_text_has_it(client, personas):
    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    approved(broadcast, "<b>gt</b> 是什么意思")
    end(broadcast, personas["host"])
    assert snippets(client, "gt") == ["&lt;b&gt;<mark>gt</mark>&lt;/b&gt; 是什么意思"]


def test_items_that_use_the_words_more_often_rank_first(client, personas):
    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    studio.post_host_message(broadcast.pk, personas["host"], "h1", "公交线网优化")
    studio.post_host_message(broadcast.pk, personas["host"], "h2", "公交换乘公交，再换乘公交")
    end(broadcast, personas["host"])
    assert [r["seq"] for r in search(client, "公交")] == [2, 1]


@pytest.mark.postgres
def test_postgresql_matches_through_its_full_text_index(client, archive):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert len(search(client, "一卡通")) == 2
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    # Matched and ranked from the stored vector: nothing recomputed per row (migration 0006).
    assert "document @@" in sql and "ts_rank(document" in sql and "to_tsvector" not in sql


def test_reindex_rebuilds_the_search_index(client, archive):
    before = TranscriptEntry.objects.count()
    assert before == 7  # host message, 3 questions, 3 answers (the withdrawn one left out)
    TranscriptEntry.objects.all().delete()
    assert snippets(client, "一卡通") == []
    out = StringIO()
    call_command("reindex", stdout=out)
    assert out.getvalue().splitlines()[0] == f"{before} transcript entries indexed"
    assert TranscriptEntry.objects.count() == before
    assert len(snippets(client, "一卡通")) == 2


# --- statistics --------------------------------------------------------------------------------


def letter(department: str | None, days_ago: float, replied: bool = False, rating: str = "") -> Letter:
    now = timezone.now()
    return Letter.objects.create(
        code="T" + secrets.token_hex(6).upper(),
        key_hash="x",
        kind="consultation",
        subject="来信",
        body="内容",
        name="网友",
        contact="",
        status=LetterStatus.CLOSED if rating else LetterStatus.REPLIED if replied else LetterStatus.SUBMITTED,
        department=Department.objects.get(code=department) if department else None,
        submitted_at=now - dt.timedelta(days=days_ago),
        replied_at=now if replied else None,
        reply="答复" if replied else "",
        rating=rating,
    )


@pytest.fixture
def dataset(personas):
    """Two held programmes (jtw live, swj ended), one scheduled one, and five letters."""
    host, grace, gary = personas["host"], personas["guest"], personas["other_guest"]
    a = make_broadcast("jtw", host, [grace], status="live")
    q1 = approved(a, "公交一卡通在外地能用吗？", key="k1")
    answer(a, grace, q1.pk, "可以。")
    ask(a, "回龙观的公交太挤了", key="k2")  # still pending
    reject_question(a.pk, ask(a, "广告", key="k1").pk, "无关")
    support_question(a.pk, q1.pk, "k3")
    support_question(a.pk, q1.pk, "k2")  # asked and supported: one netizen

    b = make_broadcast("swj", host, [gary, grace], status="live", title="汛期排水")
    q4 = approved(b, "汛期排水怎么保障？", key="k2")
    answer(b, gary, q4.pk, "泵站已扩容。")
    support_question(b.pk, q4.pk, "k4")
    end(b, host)

    c = make_broadcast("jtw", host, [grace], status="scheduled", title="下期预告")
    ask(c, "预先征集的问题", key="k5")  # not held yet: not counted

    letter("jtw", 1.5, replied=True, rating="satisfied")
    letter("jtw", 1, replied=True, rating="basic")
    letter("jtw", 0)
    letter("swj", 0.5, replied=True, rating="unsatisfied")
    letter(None, 0)  # received, not yet forwarded to anyone
    return {"a": a, "b": b, "c": c}


def stats_of(client: Client, **params: str) -> dict:
    response = client.get("/api/stats/", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_stats_count_the_programmes_people_questions_and_letters(client, dataset):
    data = stats_of(client)
    counts = ("department", "broadcasts", "departments", "guests", "participants")
    assert {k: data[k] for k in (*counts, "questions_asked", "questions_answered")} == {
        "department": None,
        "broadcasts": 2,  # live or ended; the scheduled one is not held yet
        "departments": 2,
        "guests": 3,  # appearances: grace twice, gary once
        "participants": 4,  # askers k1, k2 and supporters k3, k4 (k2 also supported; k5 is not held)
        "questions_asked": 4,
        "questions_answered": 2,
    }
    assert data["letters"] == {
        "received": 5,
        "replied": 3,
        "rated": 3,
        "satisfied": 1,
        "phone": 0,  # of which taken by phone (issue #16)
        "daily_average": 2.5,  # 5 letters over 2 days since the first
        "reply_rate": 0.6,
        "satisfaction_rate": 0.3333,
        "closed": 3,
        "closed_unrated": 0,
        "closure_rate": 0.6,
        "thanks": 0,
    }


def test_stats_narrow_to_one_department(client, dataset):
    data = stats_of(client, department="jtw")
    assert data["department"] == "jtw"
    assert (data["broadcasts"], data["departments"], data["guests"]) == (1, 1, 1)
    assert (data["participants"], data["questions_asked"], data["questions_answered"]) == (3, 3, 1)
    assert data["letters"] == {
        "received": 3,
        "replied": 2,
        "rated": 2,
        "satisfied": 1,
        "phone": 0,
        "daily_average": 1.5,
        "reply_rate": 0.6667,
        "satisfaction_rate": 0.5,
        "closed": 2,
        "closed_unrated": 0,
        "closure_rate": 0.6667,
        "thanks": 0,
    }


def test_stats_of_a_department_with_nothing_yet_have_no_rates(client, dataset):
    data = stats_of(client, department="wjw")
    assert data["broadcasts"] == 0 and data["questions_asked"] == 0
    assert data["letters"]["received"] == 0 and data["letters"]["daily_average"] == 0
    assert data["letters"]["reply_rate"] is None and data["letters"]["satisfaction_rate"] is None


def test_stats_refuse_an_unknown_department(client, dataset):
    response = client.get("/api/stats/", {"department": "nope"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request"


def test_stats_are_served_from_the_cache_until_refreshed(client, dataset):
    first = stats_of(client)
    ask(dataset["a"], "新来的问题", key="k9")
    assert stats_of(client) == first  # cached: no request counts every row
    assert stats_of(client, department="jtw")["questions_asked"] == 4  # its own, fresh cache entry
    refreshed = stats.figures(refresh=True)
    assert (refreshed["questions_asked"], refreshed["participants"]) == (5, 5)
    assert stats_of(client)["questions_asked"] == 5
    ask(dataset["a"], "又一个问题", key="k9")
    cache.clear()
    assert stats_of(client)["questions_asked"] == 6


def test_the_clock_runs_the_sweep_and_refreshes_the_cached_figures(client, dataset):
    assert stats_of(client)["questions_asked"] == 4
    ask(dataset["a"], "新来的问题", key="k9")
    letter("swj", 0)
    assert stats_of(client)["questions_asked"] == 4
    call_command("clock", "--once", stdout=StringIO())
    _at, cached = cache.get("minxin:stats:*")
    assert cached["questions_asked"] == 5 and cached["letters"]["received"] == 6
    assert stats_of(client)["questions_asked"] == 5


def test_stats_do_not_count_the_letters_a_programme_creates_as_answered_questions(client, personas):
    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    approved(broadcast, "地铁夜间能不能延长运营时间？")
    end(broadcast, personas["host"])
    data = stats.figures(refresh=True)
    assert (data["questions_asked"], data["questions_answered"]) == (1, 0)
    assert data["letters"]["received"] == 1 and data["letters"]["replied"] == 0
    assert Guest.objects.filter(broadcast=broadcast).count() == data["guests"] == 1
    assert QuestionStatus.APPROVED == broadcast.questions.get().status
