"""The seed's figures (seed/000_e75cd4ab1e1c88f8.txt) and what a run at a fraction of its scale aims at.

The seed reports the service from 12 May 2005 for "a year and more": 46,510 letters at "120 and
more a day" is about 388 days, so the simulated period is 12 May 2005 to 3 June 2006.
"""

import datetime as dt
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")
FIRST_DAY = dt.date(2005, 5, 12)  # 热线 went online (正式上线)
DAYS = 388

SEED = {
    "programmes": 54,
    "departments": 36,
    "guests": 257,
    "participants": 7436,  # 网民在线参与: distinct netizens who asked or supported
    "questions_asked": 7603,
    "questions_answered": 1891,
    "letters_received": 46510,
    "letters_rated": 6773,
    "letters_satisfied": 4506,  # 66.5 %
    "units": 67,
    "thanks": 400,  # 感谢信 "400 and more"
}


def targets(scale: float) -> dict[str, int]:
    """The seed's figures at `scale` (1.0 = the seed), each at least 1."""
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be in (0, 1], not {scale}")
    return {name: max(1, round(value * scale)) for name, value in SEED.items()}
