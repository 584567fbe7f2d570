"""A planned programme (live.py) played through the real services, each step at its time.

The steps only know the database ids the earlier steps stored (the programme's, its questions'
and guests'), which the timeline's time order guarantees exist when they are needed. A service
refusing a planned step is a bug in the plan or in the service, never part of the story: it stops
the run with what was refused, rather than leaving the figures silently off.
"""

import datetime as dt
from collections.abc import Callable
from functools import partial
from typing import TypeVar

from django.contrib.auth.models import User

from archive.simulation.live_plan import MERGED_, REJECTED_, Ask, Netizen, Programme
from archive.simulation.timeline import Timeline
from core.errors import ServiceError
from moderation import actions
from moderation.asking import ask_question
from moderation.supports import support_question
from studio import services as studio
from studio.models import BroadcastStatus, Guest

T = TypeVar("T")


class SimulationError(RuntimeError):
    pass


class Player:
    def __init__(self, timeline: Timeline, programme: Programme, host: User, moderators: list[User]) -> None:
        self.timeline = timeline
        self.programme = programme
        self.host = host
        self.moderators = moderators
        self.broadcast_id = 0
        self.guest_ids: list[int] = []
        self.questions: dict[int, int] = {}  # planned index → Question id

    def schedule(self) -> None:
        p, at = self.programme, self.timeline.at
        at(p.announced, self.announce)
        for ask in p.asks:
            at(ask.at, partial(self.ask, ask))
            assert ask.screened is not None
            at(ask.screened, partial(self.screen, ask))
            if ask.answered is not None:
                at(ask.answered, partial(self.answer, ask))
        for when, netizen, text in p.blocked:
            at(when, partial(self.ask_blocked, netizen, text))
        for when, netizen, index in p.supports:
            at(when, partial(self.support, netizen, index))
        at(p.starts, partial(self.status, BroadcastStatus.LIVE))
        guests = "、".join(f"{user.staff.title}{user.first_name}" for user in p.guests)
        lines = [
            (
                dt.timedelta(seconds=5),
                f"各位网友下午好，欢迎来到走进直播间。今天做客的是{guests}，话题是{p.title}。",
            ),
            (dt.timedelta(minutes=30), "网友提问非常踊跃，嘉宾正在逐一回答，请大家继续提问。"),
            (
                p.ends - p.starts - dt.timedelta(seconds=30),
                "时间关系，没来得及回答的问题将转为信件，由部门在规定时限内答复。感谢各位嘉宾和网友，本期节目到此结束。",
            ),
        ]
        for n, (after, text) in enumerate(lines):
            at(p.starts + after, partial(self.say, f"host-{n}", text))
        at(p.ends, partial(self.status, BroadcastStatus.ENDED))

    def _call(self, what: str, step: Callable[[], T]) -> T:
        try:
            return step()
        except ServiceError as error:
            raise SimulationError(
                f"{what} in {self.programme.starts:%Y-%m-%d}'s programme refused: {error.code} {error.message}"
            ) from error

    def announce(self) -> None:
        p = self.programme
        broadcast = studio.create_broadcast(
            title=p.title,
            department=p.department,
            starts_at=p.starts,
            planned_minutes=60,
            host=self.host,
            summary=f"{p.department.name}新闻发言人和相关处室负责人做客走进直播间，与网友在线交流{p.title}。",
        )
        broadcast.moderators.set(self.moderators)
        self.broadcast_id = broadcast.pk
        for user in p.guests:
            guest = Guest.objects.create(
                broadcast=broadcast,
                user=user,
                display_name=user.first_name,
                title=user.staff.title,
                department=p.department,
            )
            self.guest_ids.append(guest.pk)

    def ask(self, ask: Ask) -> None:
        netizen = ask.netizen
        assert netizen is not None
        question, _new = self._call(
            f"question {ask.index}",
            partial(
                ask_question,
                self.broadcast_id,
                ask.client_id,
                ask.text,
                netizen.nickname,
                netizen.key,
                netizen.ip,
            ),
        )
        self.questions[ask.index] = question.pk

    def ask_blocked(self, netizen: Netizen, text: str) -> None:
        try:
            ask_question(
                self.broadcast_id,
                f"blocked-{netizen.key[-12:]}",
                text,
                netizen.nickname,
                netizen.key,
                netizen.ip,
            )
        except ServiceError as error:
            if error.code == "blocked_content":
                return
            raise
        raise SimulationError(f"a question with a block-list word was stored: {text}")

    def screen(self, ask: Ask) -> None:
        pk, by = self.questions[ask.index], ask.moderator
        if ask.edit is not None:
            self._call("edit", partial(actions.edit_question, self.broadcast_id, pk, ask.edit, by=by))
        if ask.outcome == REJECTED_:
            step = partial(actions.reject_question, self.broadcast_id, pk, ask.reason, by=by)
        elif ask.outcome == MERGED_:
            assert ask.into is not None
            step = partial(actions.merge_question, self.broadcast_id, pk, self.questions[ask.into], by=by)
        else:
            step = partial(actions.approve_question, self.broadcast_id, pk, ask.publish, by=by)
        self._call(f"{ask.outcome} of question {ask.index}", step)

    def answer(self, ask: Ask) -> None:
        pk, client_id = self.questions[ask.index], f"a{ask.client_id}"
        if ask.on_air:  # the host, as 导播, records what the guest said on air
            step = partial(
                studio.post_on_air_answer,
                self.broadcast_id,
                self.host,
                client_id,
                pk,
                ask.answer,
                self.guest_ids[ask.guest],
            )
        else:
            user = self.programme.guests[ask.guest]
            step = partial(studio.post_answer, self.broadcast_id, user, client_id, pk, ask.answer)
        self._call(f"answer to question {ask.index}", step)

    def support(self, netizen: Netizen, index: int) -> None:
        step = partial(support_question, self.broadcast_id, self.questions[index], netizen.key, netizen.ip)
        self._call(f"support of question {index}", step)

    def say(self, client_id: str, text: str) -> None:
        self._call(
            "host message", partial(studio.post_host_message, self.broadcast_id, self.host, client_id, text)
        )

    def status(self, status: str) -> None:
        self._call(f"status {status}", partial(studio.set_status, self.broadcast_id, self.host, status))
