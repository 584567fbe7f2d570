"""The supervision sweep (红绿灯自动督办): record every change of a letter's traffic light.

Lights are computed by the database from the stored deadline and yellow moment of each open stage
(the same rule as services.light_at), so a sweep over 100,000 open letters is a handful of queries.
"""

import datetime as dt

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from letters.models import Letter, LetterStatus, Light, LightChange

STAGES = [
    # (status of the open stage, stage name, deadline field, yellow-moment field)
    (LetterStatus.FORWARDED, "sign", "sign_deadline", "sign_yellow_at"),
    (LetterStatus.SIGNED, "reply", "reply_deadline", "reply_yellow_at"),
]


def sweep(now: dt.datetime | None = None) -> dict[str, int]:
    """Set each open letter's light for `now` and log the changes; returns how many turned each colour."""
    now = now or timezone.now()
    changed: dict[str, int] = {Light.GREEN: 0, Light.YELLOW: 0, Light.RED: 0}
    with transaction.atomic():
        for status, stage, deadline, yellow in STAGES:
            rules = {
                Light.RED: Q(**{f"{deadline}__lte": now}),
                Light.YELLOW: Q(**{f"{deadline}__gt": now, f"{yellow}__lte": now}),
                Light.GREEN: Q(**{f"{deadline}__gt": now})
                & (Q(**{f"{yellow}__gt": now}) | Q(**{f"{yellow}__isnull": True})),
            }
            for light, rule in rules.items():
                moving = Letter.objects.select_for_update().filter(rule, status=status).exclude(light=light)
                ids = list(moving.values_list("pk", flat=True))
                if not ids:
                    continue
                Letter.objects.filter(pk__in=ids).update(light=light)
                LightChange.objects.bulk_create(
                    [LightChange(letter_id=pk, stage=stage, light=light, at=now) for pk in ids],
                    batch_size=5000,
                )
                changed[light] += len(ids)
    return changed
