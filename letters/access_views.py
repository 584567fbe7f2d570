"""The supervisors' record of contact openings (查看联系方式): every time staff opened a writer's name
and contact, newest first, by letter or person (PIPL: letters.privacy records them)."""

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods

from departments.roles import ROLES
from letters.models import ContactAccess
from letters.pages import _render, role_page

ACCESS_PAGE = 50


@role_page("supervisor")
@require_http_methods(["GET"])
def contact_accesses(request: HttpRequest) -> HttpResponse:
    """The record of every time staff opened a writer's contact, newest first; by letter or person."""
    found = ContactAccess.objects.select_related("letter", "letter__department")
    # No NUL: PostgreSQL cannot compare with one, and no code or user name holds one.
    code = request.GET.get("letter", "").replace("\x00", "").strip().upper()
    by = request.GET.get("by", "").replace("\x00", "").strip()
    if code:
        found = found.filter(letter__code=code)
    if by:
        found = found.filter(by=by)
    page = Paginator(found.order_by("-at", "-id"), ACCESS_PAGE).get_page(request.GET.get("page"))
    for access in page:
        role = ROLES.get(access.role)
        access.role_label = role.label if role else access.role  # type: ignore[attr-defined]
    query = urlencode({name: value for name, value in (("letter", code), ("by", by)) if value})
    return _render(
        request,
        "letters/contact_accesses.html",
        {"page": page, "letter_code": code, "by": by, "query": query},
    )


urlpatterns = [
    path("supervisor/contact-access/", contact_accesses, name="letters-contact-accesses"),
]
