"""Personal data planted in every input, read back anonymously from every public surface.

A netizen asks through a real daphne process with a phone number, an ID number, a bank card or an
e-mail address in the question and in the nickname (tests/pii.py: the forms people really type);
moderators publish some, approve others without publishing, a guest answers one of those, one is
withdrawn, the programme ends and the rest become letters; other netizens write public letters
with the same data in subject, body and name; a handler returns each with the data in the reason
(the public trail shows it); staff reply with the 12345 hotline. Then a stranger
reads every public page, export and API, the live socket's hello and catch-up, and the server's
own log: none of it may be readable anywhere.
"""

import asyncio
import http.cookiejar
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest
from websockets.asyncio.client import connect
from websockets.typing import Origin

from tests.conftest import make_broadcast, server_env, start_daphne
from tests.pii import CORPUS, leaks

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def daphne(transactional_db, tmp_path):
    """Real daphne processes with DEBUG off, as in production: Django's debug pages (which echo
    the path and settings) are not what the public sees."""
    started = []

    def factory():
        started.append(start_daphne(tmp_path, {**server_env(), "DEBUG": "false"}))
        return started[-1]

    yield factory
    for server in started:
        server.stop()


class Browser:
    """A client with its own cookies, like one browser."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)

    def request(self, path: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, str]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, headers=headers or {})
        if data is not None:
            request.add_header("Content-Type", "application/json")
            token = self.cookie("csrftoken")
            if token:
                request.add_header("X-CSRFToken", token)
        try:
            with self.opener.open(request, timeout=20) as response:
                return response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode("utf-8", "replace")


async def _ask_all(server, broadcast_id: int, cookie: str, asks: list[tuple[str, str]]) -> list[dict]:
    answers = []
    async with connect(
        f"{server.ws}/ws/live/{broadcast_id}/",
        origin=Origin(server.url),
        additional_headers={"Cookie": cookie},
        open_timeout=10,
    ) as ws:
        for text, nickname in asks:
            ref = uuid.uuid4().hex
            await ws.send(json.dumps({"type": "ask", "client_id": ref, "text": text, "nickname": nickname}))
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if frame.get("type") in ("ask.ok", "error") and frame.get("ref") == ref:
                    assert frame["type"] == "ask.ok", frame
                    answers.append(frame)
                    break
    return answers


async def _live_frames(server, broadcast_id: int) -> list[str]:
    """What a stranger's live socket receives: hello and the catch-up of the whole log."""
    frames: list[str] = []
    async with connect(
        f"{server.ws}/ws/live/{broadcast_id}/?after=0", origin=Origin(server.url), open_timeout=10
    ) as ws:
        try:
            while True:
                frames.append(await asyncio.wait_for(ws.recv(), 2))
        except TimeoutError:
            pass
    return frames


def test_no_personal_data_planted_anywhere_is_readable_on_any_public_surface(personas, daphne):
    from letters import services as letters
    from moderation.actions import approve_question, withdraw_event
    from studio import services as studio

    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    server = daphne()

    # A netizen asks, with personal data in every question and nickname.
    asker = Browser(server.url)
    assert asker.request(f"/live/{broadcast.pk}/")[0] == 200
    assert asker.request("/api/netizen/")[0] == 200  # its identity, as the page gets it before asking
    asks = [
        (f"第{n}问：公交什么时候加密班次？我的联系方式{typed}", f"王{typed}"[:30])
        for n, (_kind, typed, _secret) in enumerate(CORPUS)
    ]
    asked = asyncio.run(_ask_all(server, broadcast.pk, asker.cookie_header(), asks))
    ids = [frame["question_id"] for frame in asked]
    assert len(ids) == len(CORPUS)

    # Moderators publish a third, approve a third without publishing (one of which a guest
    # answers, bringing it into the transcript), and one published question is withdrawn.
    published = ids[0::3]
    approved = ids[1::3]
    for question_id in published:
        approve_question(broadcast.pk, question_id, publish=True, by="mona")
    for question_id in approved:
        approve_question(broadcast.pk, question_id, publish=False, by="mona")
    studio.post_answer(broadcast.pk, personas["guest"], "a1", approved[0], "已经在研究，下月起加密。")
    studio.post_answer(broadcast.pk, personas["guest"], "a2", published[0], "请拨打12345热线反映。")
    withdrawn = withdraw_event(broadcast.pk, 2, by="mona")
    assert withdrawn.seq
    studio.set_status(broadcast.pk, personas["host"], "ended")  # the rest become letters

    # Other netizens write public letters with the same data in every field.
    codes = []
    for n, (_kind, typed, _secret) in enumerate(CORPUS):
        status, body = Browser(server.url).request(
            "/api/letters/",
            {
                "kind": "consultation",
                "subject": f"供暖问题{typed}"[:100],
                "body": f"暖气不热，请联系我：{typed}。",
                "name": f"李{typed}"[:50],
                "contact": typed,
                "public": True,
                "client_id": f"letter-{n}",
            },
        )
        assert status == 201, body
        codes.append(json.loads(body)["code"])
    # Operators take letters by phone with the same data (issue #16): as private as any other.
    from letters import phone

    for n, (_kind, typed, _secret) in enumerate(CORPUS[:4]):
        data = {"kind": "opinion", "subject": f"电话反映{typed}"[:100], "body": f"来电人称：{typed}"}
        data |= {"name": f"赵{typed}"[:50], "contact": typed, "public": True, "consent": True}
        codes.append(phone.take(data, f"phone-{n}", personas["operator"])[0]["code"])
    for code, (_kind, typed, _secret) in zip(codes, CORPUS + CORPUS[:4], strict=True):
        # A handler types the writer's number into a return reason: the public trail shows the reason.
        letters.forward(code, "swj", personas["operator"])
        letters.return_letter(code, f"不属于本局职责，已电话联系来信人 {typed}", personas["handler_b"])
        letters.forward(code, "jtw", personas["operator"])
        letters.sign(code, personas["handler_a"])
        letters.reply(code, "已处理。如有疑问请拨打12345市民服务热线。", personas["handler_a"])

    stranger = Browser(server.url)
    question_letters = [
        q["letter"]["code"]
        for q in json.loads(asker.request(f"/api/broadcasts/{broadcast.pk}/my-questions/")[1])["questions"]
        if q.get("letter")
    ]
    assert question_letters, "approved questions left unanswered became letters"
    digits_searches = [f"/api/search/?q={urllib.parse.quote(s)}" for _k, _t, s in CORPUS]
    paths = [
        "/",
        f"/live/{broadcast.pk}/",
        f"/replay/{broadcast.pk}/",
        f"/transcript/{broadcast.pk}/",
        *(f"/api/broadcasts/{broadcast.pk}/transcript/?format={f}" for f in ("json", "csv", "md")),
        "/api/broadcasts/",
        f"/api/broadcasts/{broadcast.pk}/",
        f"/api/broadcasts/{broadcast.pk}/events/?after=0",
        "/stats/",
        *(f"/api/stats/?format={f}" for f in ("json", "csv", "md")),
        f"/search/?q={urllib.parse.quote('公交')}",
        f"/api/search/?q={urllib.parse.quote('公交')}",
        f"/api/search/?q={urllib.parse.quote('电话')}",
        *digits_searches,
        "/letters/",
        "/letters/?department=jtw",
        "/letters/scoreboard/",
        "/api/letters/",
        "/api/letters/?department=jtw",
        *(f"/api/letters/{code}/" for code in codes + question_letters),
        "/api/departments/scoreboard/",
        "/api/schema/",
        "/metrics",
        "/healthz",
        "/letters/13812345678/",
        "/api/letters/13812345678/",
        "/api/nothing/13812345678/",
    ]
    seen: dict[str, str] = {}
    for path in paths:
        status, body = stranger.request(path)
        assert status < 500, (path, status)
        seen[path] = body
        if path in digits_searches:  # the searcher's own query is echoed back; nothing it finds
            found = json.loads(body)
            assert found["results"] == [], (path, found)
            continue
        assert leaks(body) == [], f"{path} shows {leaks(body)}"

    # Not a vacuous pass: the surfaces do show the questions, answers and letters, masked.
    transcript = seen[f"/api/broadcasts/{broadcast.pk}/transcript/?format=json"]
    assert "公交什么时候加密班次" in transcript and "已经在研究" in transcript and "王" in transcript
    assert "138******78" in transcript or "138******78" in seen["/api/letters/"]
    assert all(code in seen["/api/letters/"] for code in codes)
    assert "供暖问题" in seen["/letters/"] and "暖气不热" in seen["/letters/"]
    assert "12345市民服务热线" in seen["/letters/"]  # staff replies keep the hotline
    assert (
        "已电话联系来信人" in seen["/letters/"] and "已电话联系来信人" in seen["/api/letters/"]
    )  # the trail
    assert "公交" in seen[f"/api/search/?q={urllib.parse.quote('公交')}"]

    frames = asyncio.run(_live_frames(server, broadcast.pk))
    assert any('"kind": "question.published"' in f or '"question.published"' in f for f in frames)
    for frame in frames:
        assert leaks(frame) == [], frame

    # The writer's own view is private and complete: the asker follows its question's letter.
    status, page = asker.request(f"/letters/track/?code={question_letters[0]}")
    assert status == 200 and question_letters[0] in page and "公交什么时候加密班次" in page
    status, page = stranger.request(f"/letters/track/?code={question_letters[0]}")
    assert 'id="letter"' not in page

    server.stop()
    log = server.log.read_text()
    assert "GET /letters/" in log or "/letters/" in log
    assert leaks(log) == [], leaks(log)


def test_a_letter_made_from_an_unanswered_question_is_rated_by_the_session_that_asked(personas, daphne):
    from letters import services as letters
    from letters.models import Letter

    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    server = daphne()
    asker = Browser(server.url)
    asker.request(f"/live/{broadcast.pk}/")
    asker.request("/api/netizen/")  # its identity, as the page gets it before asking
    [ok] = asyncio.run(
        _ask_all(server, broadcast.pk, asker.cookie_header(), [("末班车能否延后？电话13812345678", "小王")])
    )
    from moderation.actions import approve_question
    from studio import services as studio

    approve_question(broadcast.pk, ok["question_id"], publish=False, by="mona")
    studio.set_status(broadcast.pk, personas["host"], "ended")
    mine = json.loads(asker.request(f"/api/broadcasts/{broadcast.pk}/my-questions/")[1])["questions"]
    code = mine[0]["letter"]["code"]
    letter = Letter.objects.get(code=code)
    assert "13812345678" not in letter.subject  # cut from the masked text
    letters.sign(code, personas["handler_a"])
    letters.reply(code, "下月起延后半小时。", personas["handler_a"])

    # A stranger cannot rate it; nothing changes.
    stranger = Browser(server.url)
    stranger.request(f"/live/{broadcast.pk}/")
    stranger.request("/api/netizen/")
    status, body = stranger.request(f"/api/letters/{code}/evaluation/", {"rating": "satisfied"})
    assert status == 404 and json.loads(body)["error"]["code"] == "not_found"  # as for no such code
    assert Letter.objects.get(code=code).status == "replied"

    # The session that asked can, and the letter closes with its rating.
    status, body = asker.request(f"/api/letters/{code}/evaluation/", {"rating": "satisfied"})
    assert status == 200, body
    letter.refresh_from_db()
    assert (letter.status, letter.rating) == ("closed", "satisfied")
    # Its private view shows the whole question to the asker, but the public one is masked.
    assert "13812345678" in json.loads(asker.request(f"/api/letters/{code}/")[1])["body"]
    assert leaks(stranger.request(f"/api/letters/{code}/")[1]) == []
