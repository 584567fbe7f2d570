"""Who may screen a programme's questions: the moderate socket, the console and the audit CSV ask here."""

from departments.roles import has_role
from studio.models import Broadcast


def may_moderate(broadcast_id: int, user) -> bool:
    """Its named moderators, or every moderator when the programme names none."""
    if not has_role(user, "moderator"):
        return False
    named = Broadcast.moderators.through.objects.filter(broadcast_id=broadcast_id)
    return not named.exists() or named.filter(user_id=user.pk).exists()
