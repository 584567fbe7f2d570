"""Downloads for the public record (PROTOCOL.md §4): a programme's transcript, the letter scoreboard
for a period and the statistics as JSON, CSV and Markdown, linked from the pages."""

import csv
import datetime as dt
import io
import json
import urllib.parse
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone

from core import clock as core_clock
from letters import services as letter_services
from letters.models import Letter
from moderation.actions import approve_question, edit_question, reject_question
from moderation.asking import ask_question
from studio import services as studio
from tests.conftest import make_broadcast

pytestmark = pytest.mark.django_db

HOSTILE = "=cmd|' /C calc'!A0 <script>alert(1)</script> 票价|线路\n# 假标题\n- 假列表\n1. 假编号"
SECRETS = ["内部备注：勿公开", "被驳回的问题", "原文里的手机号码", "等待审核的问题", "netizen-secret-key"]
FORMATS = ("json", "csv", "md")


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    cache.clear()


@pytest.fixture
def programme(personas):
    broadcast = make_broadcast(
        "jtw", personas["host"], [personas["guest"]], status="live", title="公交|线网 优化"
    )
    host, guest = personas["host"], personas["guest"]
    studio.post_host_message(broadcast.pk, host, "h1", "欢迎收看")
    first, _ = ask_question(broadcast.pk, "q1", "一卡通怎么办？", "小王", "netizen-secret-key", None)
    approve_question(broadcast.pk, first.pk, True)
    hostile, _ = ask_question(broadcast.pk, "q2", HOSTILE, "@坏人", "k2", None)
    approve_question(broadcast.pk, hostile.pk, True)
    rejected, _ = ask_question(broadcast.pk, "q3", "被驳回的问题", "网友甲", "k3", None)
    reject_question(broadcast.pk, rejected.pk, "内部备注：勿公开")
    edited, _ = ask_question(broadcast.pk, "q4", "原文里的手机号码", "网友乙", "k4", None)
    edit_question(broadcast.pk, edited.pk, "改过的问题")
    approve_question(broadcast.pk, edited.pk, True)
    ask_question(broadcast.pk, "q5", "等待审核的问题", "网友丙", "k5", None)
    studio.post_answer(broadcast.pk, guest, "a1", first.pk, "到地铁站客服中心办理。")
    studio.post_answer(broadcast.pk, guest, "a2", first.pk, "也可以在手机上办理。")
    studio.post_answer(broadcast.pk, guest, "a3", hostile.pk, "+86 热线会回复")
    studio.post_answer(broadcast.pk, guest, "a4", None, "欢迎继续提问。")
    studio.set_status(broadcast.pk, host, "ended")
    return broadcast


def get(client, path: str):
    response = client.get(path)
    assert response.status_code == 200, response.content
    return response


def transcript_file(client, programme, output: str):
    return get(client, f"/api/broadcasts/{programme.pk}/transcript/?format={output}")


def csv_rows(response) -> list[dict]:
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")  # so that Excel reads the Chinese as UTF-8
    return list(csv.DictReader(io.StringIO(text[1:])))


# --- transcript ----------------------------------------------------------------------------------


def test_each_transcript_download_is_an_attachment_named_in_ascii_and_in_chinese(client, programme):
    for output, content_type in [("json", "application/json"), ("csv", "text/csv"), ("md", "text/markdown")]:
        response = transcript_file(client, programme, output)
        assert response["Content-Type"].startswith(content_type)
        disposition = response["Content-Disposition"]
        assert disposition.startswith("attachment; ")
        ascii_name = disposition.split('filename="')[1].split('"')[0]
        assert (
            ascii_name
            == f"programme-{programme.number}-{timezone.localtime(programme.starts_at):%Y%m%d}.{output}"
        )
        assert ascii_name.isascii()
        unicode_name = urllib.parse.unquote(disposition.split("filename*=UTF-8''")[1])
        assert (
            unicode_name == f"第{programme.number}期 公交_线网 优化.{output}"
        )  # | is not allowed in a file name


def test_the_json_download_is_the_api_transcript_with_its_guests(client, programme):
    api = get(client, f"/api/broadcasts/{programme.pk}/transcript/").json()
    download = json.loads(transcript_file(client, programme, "json").content)
    assert download == api
    assert download["broadcast"]["guests"] == [{"name": "张明", "title": "市交通委新闻发言人"}]
    assert [item["type"] for item in download["items"]] == [
        "host",
        "question",
        "question",
        "question",
        "statement",
    ]


def test_the_csv_has_one_row_per_answer_in_order_with_times_and_guests(client, programme):
    rows = csv_rows(transcript_file(client, programme, "csv"))
    assert list(rows[0]) == ["类型", "提问时间", "网友昵称", "问题", "回答时间", "回答人", "职务", "回答"]
    assert [(r["类型"], r["问题"][:5], r["回答"]) for r in rows] == [
        ("主持人", "", "欢迎收看"),
        ("问答", "一卡通怎么", "到地铁站客服中心办理。"),
        ("问答", "一卡通怎么", "也可以在手机上办理。"),  # a second answer: a second row
        ("问答", "'=cmd", "'+86 热线会回复"),
        ("问答", "改过的问题", ""),  # published, not answered: its answer cells are empty
        ("嘉宾发言", "", "欢迎继续提问。"),
    ]
    answered = rows[1]
    assert (answered["网友昵称"], answered["回答人"], answered["职务"]) == (
        "小王",
        "张明",
        "市交通委新闻发言人",
    )
    assert dt.datetime.fromisoformat(answered["提问时间"]) <= dt.datetime.fromisoformat(answered["回答时间"])
    api = get(client, f"/api/broadcasts/{programme.pk}/transcript/").json()
    assert answered["回答时间"] == api["items"][1]["answers"][0]["at"]


def test_a_formula_in_the_csv_is_neutralised_but_the_text_is_kept(client, programme):
    rows = csv_rows(transcript_file(client, programme, "csv"))
    hostile = rows[3]
    assert hostile["问题"] == "'" + HOSTILE  # shown as typed, never run as a formula
    assert hostile["网友昵称"] == "'@坏人"
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@")), value


def test_the_markdown_has_title_department_date_guests_and_the_pairs_in_order(client, programme):
    text = transcript_file(client, programme, "md").content.decode()
    lines = text.splitlines()
    assert lines[0] == f"# 第{programme.number}期 公交\\|线网 优化"
    assert lines[2].startswith(programme.department.name + " · ")
    assert timezone.localtime(programme.starts_at).strftime("%Y-%m-%d") in lines[2]
    assert "嘉宾：张明（市交通委新闻发言人）" in lines
    order = [
        "欢迎收看",
        "一卡通怎么办？",
        "到地铁站客服中心办理。",
        "也可以在手机上办理。",
        "热线会回复",
        "改过的问题",
        "欢迎继续提问。",
    ]
    positions = [text.index(piece) for piece in order]
    assert positions == sorted(positions)


def test_markdown_marks_and_newlines_a_netizen_typed_stay_text(client, programme):
    text = transcript_file(client, programme, "md").content.decode()
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "票价\\|线路" in text
    # The question's lines stay in its paragraph (hard breaks) and start no heading or list.
    assert "线路\\\n\\# 假标题\\\n\\- 假列表\\\n1\\. 假编号" in text
    for line in text.splitlines():
        assert not line.startswith(("# 假", "- 假", "1. 假"))


def test_no_private_content_in_any_download(client, programme):
    for output in FORMATS:
        text = transcript_file(client, programme, output).content.decode()
        for secret in SECRETS:
            assert secret not in text, (output, secret)
        for private_field in ("netizen_key", "client_ip", "reason", "original_text", "flags"):
            assert private_field not in text, (output, private_field)


def test_a_live_programme_downloads_what_was_said_so_far(client, personas):
    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    studio.post_answer(broadcast.pk, personas["guest"], "s1", None, "直播进行中")
    rows = csv_rows(transcript_file(client, broadcast, "csv"))
    assert [r["回答"] for r in rows] == ["直播进行中"]


def test_an_unknown_format_is_a_400_and_an_unknown_programme_a_404(client, programme):
    bad = client.get(f"/api/broadcasts/{programme.pk}/transcript/?format=pdf")
    assert bad.status_code == 400
    assert bad.json()["error"] == {
        "code": "bad_request",
        "message": "format must be json, csv or md",
        "fields": {"format": "unknown"},
    }
    for output in FORMATS:
        missing = client.get(f"/api/broadcasts/999999/transcript/?format={output}")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_the_api_without_format_is_unchanged_json_shown_inline(client, programme):
    response = get(client, f"/api/broadcasts/{programme.pk}/transcript/")
    assert response["Content-Type"] == "application/json"
    assert "Content-Disposition" not in response


@pytest.mark.parametrize("page", ["transcript", "replay"])
def test_the_transcript_and_replay_pages_link_the_three_downloads(client, programme, page):
    html = get(client, f"/{page}/{programme.pk}/").content.decode()
    assert "下载：" in html
    for output, name in [("json", "JSON"), ("csv", "CSV"), ("md", "Markdown")]:
        link = f'href="/api/broadcasts/{programme.pk}/transcript/?format={output}" download aria-label="以 {name} 格式下载文字实录">{name}</a>'
        assert link in html


def test_the_links_are_in_english_for_an_english_reader(client, programme):
    html = client.get(f"/transcript/{programme.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Download:" in html and 'aria-label="Download the transcript as CSV"' in html


# --- letters: the scoreboard for a period --------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 6, 8, 10, tzinfo=timezone.get_default_timezone())

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def letters(personas):
    """jtw: two letters forwarded in June (one replied and rated satisfied), one in September."""
    call_command("loadcalendar", "2026", stdout=StringIO())
    clock = Clock()
    with core_clock.use(clock):  # the letters are made in the past; the test reads them on 27 November
        codes = []
        for month, subject in [(6, "公交站台积水"), (6, "站牌缺失"), (9, "路灯不亮")]:
            clock.now = clock.now.replace(month=month)
            sent, _ = letter_services.submit(
                {
                    "kind": "consultation",
                    "subject": subject,
                    "body": "请处理",
                    "name": "王芳",
                    "contact": "13800000000",
                    "public": True,
                }
            )
            letter_services.forward(sent["code"], "jtw", personas["operator"])
            codes.append((sent["code"], sent["key"]))
        code, key = codes[0]
        letter_services.sign(code, personas["handler_a"])
        letter_services.reply(code, "已处理", personas["handler_a"])
        letter_services.evaluate(code, key, "satisfied", "")
        clock.now = clock.now.replace(month=11, day=27)
        yield codes


def jtw(rows: list) -> dict:
    return next(r for r in rows if r["department"]["code"] == "jtw")


def test_the_scoreboard_for_a_period_counts_the_letters_forwarded_in_it(client, letters):
    june = get(client, "/api/departments/scoreboard/?from=2026-06-01&to=2026-06-30").json()
    assert (june["from"], june["to"]) == ("2026-06-01", "2026-06-30")
    row = jtw(june["departments"])
    assert (row["received"], row["replied"], row["reply_rate"], row["satisfaction_rate"]) == (2, 1, 0.5, 1.0)
    everything = get(client, "/api/departments/scoreboard/").json()
    assert jtw(everything["departments"])["received"] == 3 and "from" not in everything
    assert Letter.objects.filter(department__code="jtw").count() == 3


def test_the_scoreboard_downloads_match_its_json(client, letters):
    query = "from=2026-06-01&to=2026-06-30"
    data = json.loads(get(client, f"/api/departments/scoreboard/?{query}&format=json").content)
    assert jtw(data["departments"])["received"] == 2
    response = get(client, f"/api/departments/scoreboard/?{query}&format=csv")
    assert 'filename="scoreboard-2026-06-01_2026-06-30.csv"' in response["Content-Disposition"]
    rows = csv_rows(response)
    assert list(rows[0]) == [
        "排名",
        "部门代码",
        "部门",
        "收到信件",
        "已回复",
        "回复率",
        "按时回复率",
        "满意率",
        "办结",
        "其中未评价办结",
        "办结率",
        "感谢信",
    ]
    assert len(rows) == len(data["departments"])
    by_code = {r["部门代码"]: r for r in rows}
    expected = jtw(data["departments"])
    assert by_code["jtw"]["部门"] == expected["department"]["name"]
    assert (by_code["jtw"]["收到信件"], by_code["jtw"]["已回复"], by_code["jtw"]["回复率"]) == (
        "2",
        "1",
        "0.5",
    )
    text = get(client, f"/api/departments/scoreboard/?{query}&format=md").content.decode()
    assert "期间：2026-06-01 至 2026-06-30" in text
    assert f"| {expected['department']['name']} | 2 | 1 | 50.0% |" in text
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(table) == len(data["departments"]) + 1  # the header and one row per department


def test_the_scoreboard_refuses_bad_dates_and_an_unknown_format(client, letters):
    bad = client.get("/api/departments/scoreboard/?from=2026-13-01")
    assert bad.status_code == 400 and bad.json()["error"]["fields"] == {"from": "invalid"}
    backwards = client.get("/api/departments/scoreboard/?from=2026-06-30&to=2026-06-01")
    assert backwards.status_code == 400
    unknown = client.get("/api/departments/scoreboard/?format=xml")
    assert unknown.status_code == 400 and unknown.json()["error"]["fields"] == {"format": "unknown"}


def test_the_scoreboard_page_shows_the_period_and_links_its_downloads(client, letters):
    html = get(client, "/letters/scoreboard/?from=2026-06-01&to=2026-06-30").content.decode()
    row = html[html.index('data-department="jtw"') :]
    assert '<td class="received">2</td>' in row[:600]
    for output, name in [("json", "JSON"), ("csv", "CSV"), ("md", "Markdown")]:
        assert (
            f'href="/api/departments/scoreboard/?from=2026-06-01&amp;to=2026-06-30&amp;format={output}" '
            f'download aria-label="以 {name} 格式下载信件办理排行"'
        ) in html
    plain = get(client, "/letters/scoreboard/").content.decode()
    assert 'href="/api/departments/scoreboard/?format=csv"' in plain
    wrong = client.get("/letters/scoreboard/?from=junk")
    assert wrong.status_code == 400 and 'role="alert"' in wrong.content.decode()


# --- statistics ----------------------------------------------------------------------------------


def test_the_statistics_download_in_each_format_with_the_api_figures(client, programme):
    api = get(client, "/api/stats/").json()
    assert json.loads(get(client, "/api/stats/?format=json").content) == api
    rows = {r["key"]: r for r in csv_rows(get(client, "/api/stats/?format=csv"))}
    assert rows["questions_asked"]["数值"] == str(api["questions_asked"]) == "5"
    assert rows["questions_answered"]["数值"] == str(api["questions_answered"])
    assert rows["letters.received"]["数值"] == str(api["letters"]["received"])
    text = get(client, "/api/stats/?format=md").content.decode()
    assert f"| 网友提问 | {api['questions_asked']} |" in text
    assert f"| 举办节目期数 | {api['broadcasts']} |" in text
    assert client.get("/api/stats/?format=docx").status_code == 400


def test_the_statistics_page_links_its_downloads(client, programme):
    html = get(client, "/stats/").content.decode()
    for output, name in [("json", "JSON"), ("csv", "CSV"), ("md", "Markdown")]:
        assert f'href="/api/stats/?format={output}" download aria-label="以 {name} 格式下载统计数据"' in html
