"""A programme's transcript: question–answer pairs and host messages in order, read from the event log."""

import datetime as dt
import html

import bleach
from django.utils import timezone

from core import clock, exports
from moderation.models import Question
from moderation.shapes import public_question_json
from studio.models import Broadcast, Event, EventKind

CACHE_SECONDS = 60  # a programme's viewers read the same transcript; its title or guests may change


def cached_transcript(broadcast: Broadcast) -> dict:
    """transcript(), kept a minute for each state of the programme's log (its last seq): a new
    event makes a new key, so only an edit of the title or guests waits up to a minute to show."""
    key = f"transcript:{broadcast.pk}:{broadcast.last_seq}"
    return clock.cached(key, CACHE_SECONDS, lambda: transcript(broadcast))


def window(data: dict, after: int, limit: int) -> dict:
    """The items after seq `after`, at most `limit` of them (PROTOCOL.md: ?after=&limit=), and
    `"more"`: whether items follow (ask again with after= the last item's seq)."""
    items = [item for item in data["items"] if item["seq"] > after]
    return {**data, "items": items[:limit], "more": len(items) > limit}


def transcript(broadcast: Broadcast) -> dict:
    """Items in log order: questions (with their answers), statements and host messages.

    Withdrawn events are left out. An answer to a question that was approved but not published on
    screen brings its question along (masked like a published one), so every answer reads in context.
    """
    events = list(Event.objects.filter(broadcast=broadcast).order_by("seq"))
    withdrawn = {e.data["seq"] for e in events if e.kind == EventKind.WITHDRAWN}
    items: list[dict] = []
    questions: dict[int, dict] = {}
    unpublished_ids = {
        e.data["answer"]["question_id"]
        for e in events
        if e.kind == EventKind.ANSWER and e.seq not in withdrawn and e.data["answer"]["question_id"]
    } - {e.data["question"]["id"] for e in events if e.kind == EventKind.QUESTION and e.seq not in withdrawn}
    unpublished = {q.pk: q for q in Question.objects.filter(pk__in=unpublished_ids)}
    for event in events:
        if event.seq in withdrawn or event.kind in (EventKind.WITHDRAWN, EventKind.STATUS):
            continue
        at = timezone.localtime(event.at).isoformat(timespec="seconds")
        if event.kind == EventKind.QUESTION:
            entry = {
                "type": "question",
                "seq": event.seq,
                "at": at,
                "question": event.data["question"],
                "answers": [],
            }
            questions[event.data["question"]["id"]] = entry
            items.append(entry)
        elif event.kind == EventKind.ANSWER:
            answer = {"seq": event.seq, "at": at, **event.data["answer"]}
            question_id = answer["question_id"]
            if question_id in questions:
                questions[question_id]["answers"].append(answer)
            elif question_id in unpublished:
                entry = {
                    "type": "question",
                    "seq": event.seq,
                    "at": at,
                    "question": public_question_json(unpublished[question_id]),
                    "answers": [answer],
                }
                questions[question_id] = entry
                items.append(entry)
            else:
                items.append({"type": "statement", "seq": event.seq, "at": at, "answer": answer})
        elif event.kind == EventKind.HOST_MESSAGE:
            items.append({"type": "host", "seq": event.seq, "at": at, "message": event.data["message"]})
    return {
        "broadcast": {
            "id": broadcast.pk,
            "number": broadcast.number,
            "title": broadcast.title,
            "department": broadcast.department.name,
            "starts_at": timezone.localtime(broadcast.starts_at).isoformat(timespec="seconds"),
            "status": broadcast.status,
            "guests": [{"name": g.display_name, "title": g.title} for g in broadcast.guests.order_by("pk")],
        },
        "items": items,
    }


def _text(fragment: str) -> str:
    """Sanitised HTML as Markdown text: tags dropped, line breaks kept (as hard breaks), and nothing
    a netizen typed can become markup in whatever renders the file (<, > and & stay escaped,
    Markdown's marks get a backslash)."""
    return exports.md_text(plain_text(fragment))


def plain_text(fragment: str) -> str:
    """Sanitised HTML as the plain text it shows: tags dropped, line breaks kept, entities decoded."""
    fragment = fragment.replace("<br>", "\n").replace("</p>", "\n")
    return html.unescape(bleach.clean(fragment, tags=[], strip=True)).strip()


def _quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.splitlines())


def as_markdown(data: dict) -> str:
    b = data["broadcast"]
    lines = [
        f"# 第{b['number']}期 {_text(b['title'])}",
        "",
        f"{_text(b['department'])} · {b['starts_at']}",
        "",
    ]
    if b.get("guests"):
        guests = "、".join(
            f"{_text(g['name'])}（{_text(g['title'])}）" if g["title"] else _text(g["name"])
            for g in b["guests"]
        )
        lines += [f"嘉宾：{guests}", ""]
    for item in data["items"]:
        time = item["at"][11:19]
        if item["type"] == "host":
            lines += [
                f"**{time} 主持人 {_text(item['message']['author'])}：** {_text(item['message']['text'])}",
                "",
            ]
        elif item["type"] == "statement":
            answer = item["answer"]
            lines += [
                f"**{time} {_text(answer['guest']['name'])}（{_text(answer['guest']['title'])}）：**",
                _text(answer["text"]),
                "",
            ]
        else:
            question = item["question"]
            lines += [f"**{time} 网友 {_text(question['nickname'])} 问：** {_text(question['text'])}", ""]
            for answer in item["answers"]:
                lines += [
                    _quote(
                        f"**{answer['at'][11:19]} {_text(answer['guest']['name'])}"
                        f"（{_text(answer['guest']['title'])}）答{_on_air(answer)}：** {_text(answer['text'])}"
                    ),
                    "",
                ]
    return "\n".join(lines).rstrip() + "\n"


CSV_HEADER = ["类型", "提问时间", "网友昵称", "问题", "回答时间", "回答人", "职务", "回答"]


def as_csv(data: dict) -> str:
    """One row per answer (a question answered twice gives two rows, one not yet answered one row
    with empty answer cells), per statement and per host message, in the transcript's order."""
    rows: list[list] = []
    for item in data["items"]:
        if item["type"] == "host":
            message = item["message"]
            rows.append(
                [
                    "主持人",
                    "",
                    "",
                    "",
                    item["at"],
                    plain_text(message["author"]),
                    "主持人",
                    plain_text(message["text"]),
                ]
            )
        elif item["type"] == "statement":
            rows.append(["嘉宾发言", "", "", "", *_answer_cells(item["answer"])])
        else:
            question = item["question"]
            asked_at = dt.datetime.fromisoformat(question["asked_at"]).isoformat(timespec="seconds")
            asked = ["问答", asked_at, plain_text(question["nickname"]), plain_text(question["text"])]
            for answer in item["answers"] or [None]:
                rows.append([*asked, *(_answer_cells(answer) if answer else ["", "", "", ""])])
    return exports.as_csv(CSV_HEADER, rows)


def _answer_cells(answer: dict) -> list:
    guest = answer["guest"]
    text = plain_text(answer["text"])
    if answer.get("on_air"):
        text = ON_AIR_MARK + text
    return [answer["at"], plain_text(guest["name"]), plain_text(guest["title"]), text]


# An answer given by voice on air: its text is a summary someone typed, not the guest's words.
ON_AIR_MARK = "（现场口头回答）"


def _on_air(answer: dict) -> str:
    return ON_AIR_MARK if answer.get("on_air") else ""
