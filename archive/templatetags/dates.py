"""`fromiso`: turn the ISO 8601 strings of the JSON-shaped data (transcripts, search results, cached
statistics) back into datetimes, so that templates print them in the reader's convention with
Django's localised formats: `{{ item.at|fromiso|date:"DATETIME_FORMAT" }}` shows
2026年11月26日 14:30 to a Chinese reader and Nov. 26, 2026, 2:30 p.m. to an English one."""

import datetime as dt

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def fromiso(value: object) -> object:
    """The datetime an ISO string names, in the current time zone; anything else unchanged."""
    if not isinstance(value, str):
        return value
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return timezone.localtime(moment)
