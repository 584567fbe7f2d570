"""Public letters in search (issue #17): found beside transcripts, only while public, never with a
citizen's phone, ID number or e-mail, and paged."""

import json

import pytest
from django.test import Client

from archive import search as search_module
from archive.models import LetterEntry
from letters import privacy, services
from letters.models import Letter
from tests.pii import CORPUS, leaks


def write(subject: str, body: str, public: bool = True) -> tuple[str, str]:
    created, _new = services.submit(
        {
            "kind": "consultation",
            "subject": subject,
            "body": body,
            "name": "王芳",
            "contact": "13812345678",
            "public": public,
        }
    )
    return created["code"], created["key"]


def replied(personas, subject: str, body: str, reply: str = "已转相关科室处理。", public: bool = True) -> str:
    code, _key = write(subject, body, public)
    services.forward(code, "jtw", personas["operator"])
    services.sign(code, personas["handler_a"])
    services.reply(code, reply, personas["handler_a"])
    return code


def found(client: Client, q: str, **params: str) -> dict:
    response = client.get("/api/search/", {"q": q, **params})
    assert response.status_code == 200, response.content
    return response.json()


def codes(client: Client, q: str, **params: str) -> list[str]:
    return [letter["code"] for letter in found(client, q, **params)["letters"]]


def test_a_public_replied_letter_is_found_beside_the_transcripts(client, personas):
    code = replied(personas, "地铁站电梯停用", "回龙观地铁站的电梯停用一个月了", reply="电梯已于本周修复。")
    data = found(client, "电梯")
    assert data["results"] == []  # no programme spoke of it
    assert [(x["code"], x["department"]["code"]) for x in data["letters"]] == [(code, "jtw")]
    assert "<mark>电梯</mark>" in data["letters"][0]["snippet"]
    assert codes(client, "修复") == [code]  # the reply's words too


def test_private_and_unreplied_letters_are_never_found(client, personas):
    replied(personas, "小区停车难", "小区停车位不足", public=False)
    write("小区停车收费", "停车收费太高")  # public, but not replied yet
    assert codes(client, "停车") == []
    assert LetterEntry.objects.count() == 0


def test_a_letter_sent_back_for_redo_disappears_until_it_is_replied_again(client, personas):
    code = replied(personas, "公交站牌错误", "站牌上的末班车时间不对")
    assert codes(client, "站牌") == [code]
    services.redo(code, "答复不具体", personas["supervisor"])
    assert codes(client, "站牌") == []
    services.reply(code, "站牌已更换。", personas["handler_a"])
    assert codes(client, "站牌") == [code]


def test_a_letter_that_stops_being_public_by_any_path_is_not_shown(client, personas):
    code = replied(personas, "路灯不亮", "小区门口路灯不亮")
    Letter.objects.filter(code=code).update(public=False)  # no save(): the entry is now stale
    assert codes(client, "路灯") == []


def test_personal_data_in_a_letter_never_reaches_search_results(client, personas):
    typed = "；".join(t for _kind, t, _secret in CORPUS)
    code = replied(
        personas,
        "噪音扰民 13912345678",
        f"工地夜间施工噪音扰民，联系我：{typed}",
        reply=f"已联系您（{typed}）。",
    )
    data = found(client, "噪音")
    assert [x["code"] for x in data["letters"]] == [code]
    html = client.get("/search/", {"q": "噪音"}).content.decode()
    assert code in html
    for body in (json.dumps(data, ensure_ascii=False), html):
        assert leaks(body) == []
    for _kind, _typed, secret in CORPUS:  # a citizen's number is no way to find the letter either
        assert found(client, secret)["letters"] == []


def test_erasure_on_the_writers_request_reaches_the_index(client, personas):
    code, key = write("王芳反映井盖缺失", "王芳家门口井盖缺失")
    services.forward(code, "jtw", personas["operator"])
    services.sign(code, personas["handler_a"])
    services.reply(code, "井盖已补上。", personas["handler_a"])
    assert "王芳" in found(client, "井盖")["letters"][0]["snippet"]
    privacy.erase_by_writer(code, key)
    assert "王芳" not in json.dumps(found(client, "井盖"), ensure_ascii=False)


def test_reindex_rebuilds_the_letters_too(client, personas):
    from io import StringIO

    from django.core.management import call_command

    code = replied(personas, "共享单车乱停", "共享单车乱停放")
    LetterEntry.objects.all().delete()
    assert codes(client, "单车") == []
    out = StringIO()
    call_command("reindex", stdout=out)
    assert "1 public letters indexed" in out.getvalue()
    assert codes(client, "单车") == [code]


def test_results_page_on_with_more_until_the_last_page(client, personas, monkeypatch):
    monkeypatch.setattr(search_module, "MAX_RESULTS", 2)
    monkeypatch.setattr(search_module, "LETTERS_PER_PAGE", 2)
    made = [replied(personas, f"护栏损坏 {n}", "道路护栏损坏") for n in range(5)]
    pages = [found(client, "护栏", page=str(n)) for n in (1, 2, 3)]
    assert [p["more"] for p in pages] == [True, True, False]
    assert [p["page"] for p in pages] == [1, 2, 3]
    seen = [x["code"] for p in pages for x in p["letters"]]
    assert sorted(seen) == sorted(made) and len(set(seen)) == 5  # every letter once
    assert seen == made[::-1]  # equally good matches: newest first
    html = client.get("/search/", {"q": "护栏", "page": "2"}).content.decode()
    assert 'rel="prev"' in html and 'rel="next"' in html and "page=3" in html


@pytest.mark.parametrize("page", ["0", "-1", "x", "1000"])
def test_a_page_out_of_range_is_a_400(client, registry, page):
    response = client.get("/api/search/", {"q": "护栏", "page": page})
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"page": "invalid" if page == "x" else "out_of_range"}
