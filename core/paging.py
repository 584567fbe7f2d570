"""A list a page at a time, with links that keep the rest of the address (issue #17).

Used by the staff letter queues (letters/queues.py) and the transcript page (archive): `paged()`
reads ?<param>= (1 without it); a number past the last page shows the last one, and one below 1 or
not a number the first, each with a notice saying which page this is, rather than an error page.
"""

from dataclasses import dataclass
from typing import Any

from django.core.paginator import Page, Paginator
from django.http import HttpRequest
from django.utils.translation import gettext as _

PER_PAGE = 50


@dataclass
class Pager:
    """One page of a queue and the addresses of its neighbours (blank where there is none)."""

    page: Page
    previous_url: str
    next_url: str
    notice: str  # why this is not the page asked for ("" when it is)

    @property
    def items(self) -> list:
        return list(self.page.object_list)


def paged(
    request: HttpRequest, found: Any, param: str = "page", fragment: str = "", per_page: int = PER_PAGE
) -> Pager:
    """The page ?<param>= asks for (the first without one); past the last, the last with a notice."""
    paginator = Paginator(found, per_page)
    asked = request.GET.get(param, "")
    notice = ""
    try:
        number = int(asked) if asked else 1
    except ValueError:
        number = 0
    if not 1 <= number <= paginator.num_pages:
        last = paginator.num_pages
        notice = _("There is no page %(asked)s: the list has %(total)s page(s); this is page %(shown)s.") % {
            "asked": asked,
            "total": last,
            "shown": 1 if number < 1 else last,
        }
        number = 1 if number < 1 else last
    page = paginator.page(number)
    return Pager(
        page,
        _address(request, param, page.previous_page_number(), fragment) if page.has_previous() else "",
        _address(request, param, page.next_page_number(), fragment) if page.has_next() else "",
        notice,
    )


def _address(request: HttpRequest, param: str, number: int, fragment: str) -> str:
    query = request.GET.copy()
    query[param] = str(number)
    return f"?{query.urlencode()}{fragment}"
