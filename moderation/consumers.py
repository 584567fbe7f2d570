"""/ws/moderate/<id>/: the live screening queue for the programme's moderators (PROTOCOL.md §1.2)."""

from channels.db import database_sync_to_async

from moderation import actions
from moderation.permissions import may_moderate
from moderation.shapes import moderation_queue, public_frame
from studio.consumers import StaffConsumer


class ModerateConsumer(StaffConsumer):
    console = endpoint = "moderate"
    frames = {
        "ping": {},
        "approve": {"action_id": (str,), "question_id": (int,)},
        "reject": {"action_id": (str,), "question_id": (int,)},
        "merge": {"action_id": (str,), "question_id": (int,), "into": (int,)},
        "edit": {"action_id": (str,), "question_id": (int,), "text": (str,)},
        "withdraw": {"action_id": (str,), "seq": (int,)},
    }

    async def connect(self) -> None:
        await super().connect()
        # After the queue, what is public now (PROTOCOL.md §4). Read after joining the group, so an
        # event appended meanwhile is in this list, or pushed after it, or both (the console keys by seq).
        if getattr(self, "joined", False):
            await self.send_frame(await database_sync_to_async(public_frame)(self.broadcast_id))

    def allowed(self, user) -> bool:
        return may_moderate(self.broadcast_id, user)

    def queue(self) -> list[dict]:
        return moderation_queue(self.broadcast_id)

    @property
    def by(self) -> str:
        return self.scope["user"].get_username()

    async def _act(self, frame: dict, action, *args) -> None:
        await database_sync_to_async(action)(self.broadcast_id, *args, by=self.by)
        await self.send_frame({"type": "ack", "ref": frame["action_id"]})

    async def frame_approve(self, frame: dict) -> None:
        await self._act(frame, actions.approve_question, frame["question_id"], frame.get("publish", False))

    async def frame_reject(self, frame: dict) -> None:
        await self._act(frame, actions.reject_question, frame["question_id"], frame.get("reason", ""))

    async def frame_merge(self, frame: dict) -> None:
        await self._act(frame, actions.merge_question, frame["question_id"], frame["into"])

    async def frame_edit(self, frame: dict) -> None:
        await self._act(frame, actions.edit_question, frame["question_id"], frame["text"])

    async def frame_withdraw(self, frame: dict) -> None:
        await self._act(frame, actions.withdraw_event, frame["seq"])
