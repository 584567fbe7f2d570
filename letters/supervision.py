"""The supervision sweep (红绿灯自动督办): record every change of a letter's traffic light.

Lights are computed by the database from the stored deadline and yellow moment of each open stage
(the rule of letters/lights.py, as `lights.stale`), so a sweep over 100,000 open letters is a handful
of queries.
"""

import datetime as dt

from django.db import transaction

from core import clock
from letters import lights
from letters.models import Letter, Light, LightChange


def sweep(now: dt.datetime | None = None) -> dict[str, int]:
    """Set each open letter's light for `now` and log the changes; returns how many turned each colour."""
    now = now or clock.now()
    changed: dict[str, int] = {Light.GREEN: 0, Light.YELLOW: 0, Light.RED: 0}
    with transaction.atomic():
        for stage in lights.STAGES:
            for light, _deadline, _yellow in lights.RULE:
                moving = Letter.objects.select_for_update().filter(lights.stale(stage, light, now))
                ids = list(moving.values_list("pk", flat=True))
                if not ids:
                    continue
                Letter.objects.filter(pk__in=ids).update(light=light)
                LightChange.objects.bulk_create(
                    [LightChange(letter_id=pk, stage=stage.name, light=light, at=now) for pk in ids],
                    batch_size=5000,
                )
                changed[light] += len(ids)
    return changed
