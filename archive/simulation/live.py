"""PLACEHOLDER, replaced by the simlive branch: the programme half of the simulated year.

Schedules nothing, so that `manage.py simulate` runs before that branch is merged.
"""

import datetime as dt
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from archive.simulation.timeline import Timeline


def plan_programmes(
    timeline: Timeline,
    rng: random.Random,
    scale: float,
    start: dt.date,
    days: int,
    progress: Callable[..., Any] | None = None,
) -> None:
    """Placeholder: the simlive branch puts the weekly programmes on the timeline."""


@contextmanager
def consoles_in_memory() -> Iterator[None]:
    """Placeholder: the simlive branch runs the timeline with the channel layer in memory."""
    yield
