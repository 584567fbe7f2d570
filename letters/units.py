"""Who in a unit may act on and see a letter (the seed's third layer: "由各政府单位的纠风部门总牵头,
各业务处室具体办理").

A unit (department) without divisions works as it always did: its handlers sign for, extend, return
and reply to its letters. A unit with divisions (业务处室, departments.Division) has its coordinator
(the unit's 纠风 office) sign for, assign, extend, return and send; the handlers of the division a
letter is assigned to draft its reply and see its writer; a handler of another division does not.
"""

from typing import Any

from django.utils.translation import gettext as _

from core.errors import ServiceError
from departments.models import Division
from departments.roles import has_role
from letters.models import Letter


def has_divisions(department_id: int | None) -> bool:
    return department_id is not None and Division.objects.filter(department_id=department_id).exists()


def _profile(user: Any) -> Any:
    return getattr(user, "staff", None)


def is_coordinator_of(user: Any, department_id: int | None) -> bool:
    profile = _profile(user)
    return (
        department_id is not None
        and has_role(user, "coordinator")
        and profile is not None
        and profile.department_id == department_id
    )


def is_handler_of(user: Any, department_id: int | None) -> bool:
    profile = _profile(user)
    return (
        department_id is not None
        and has_role(user, "handler")
        and profile is not None
        and profile.department_id == department_id
    )


def division_of(user: Any) -> int | None:
    """The division a handler belongs to (None: the whole unit's handler, or not a handler)."""
    profile = _profile(user)
    return profile.division_id if profile is not None and has_role(user, "handler") else None


def require_unit(user: Any, letter: Letter) -> None:
    """Sign for, return, extend, reply: the unit's coordinator; in a unit without divisions, also
    its handlers (as before divisions existed)."""
    if letter.department_id is None:  # not at any department: no unit's step applies yet
        raise ServiceError("conflict", _("The letter has not been forwarded to a department."))
    if is_coordinator_of(user, letter.department_id):
        return
    if is_handler_of(user, letter.department_id):
        if not has_divisions(letter.department_id):
            return
        raise ServiceError(
            "forbidden", _("In a unit with divisions, its coordinator signs for, extends and sends letters.")
        )
    raise ServiceError("forbidden", _("Only a handler of the letter's department may do this."))


def require_coordinator(user: Any, letter: Letter) -> None:
    if letter.department_id is None:
        raise ServiceError("conflict", _("The letter has not been forwarded to a department."))
    if not is_coordinator_of(user, letter.department_id):
        raise ServiceError("forbidden", _("Only the coordinator of the letter's department may do this."))


def require_division_handler(user: Any, letter: Letter) -> None:
    """Drafting: a handler of the division the letter is assigned to."""
    if letter.department_id is None:
        raise ServiceError("conflict", _("The letter has not been forwarded to a department."))
    division = division_of(user)
    if not is_handler_of(user, letter.department_id) or division is None:
        raise ServiceError("forbidden", _("Only a handler of the letter's division may draft its reply."))
    if letter.division_id is None:
        raise ServiceError("conflict", _("The letter has not been assigned to a division."))
    if division != letter.division_id:
        raise ServiceError("forbidden", _("Only a handler of the letter's division may draft its reply."))


def sees_department(user: Any, department_id: int | None) -> bool:
    """Operators, supervisors, the unit's coordinator and its handlers see its private letters and
    contacts (a division's handler: its division's only, see sees_letter)."""
    if not getattr(user, "is_authenticated", False):
        return False
    if has_role(user, "operator") or has_role(user, "supervisor"):
        return True
    return is_coordinator_of(user, department_id) or is_handler_of(user, department_id)


def division_scope(user: Any, department_id: int | None) -> int | None:
    """The division whose letters alone `user` sees of the department's (a division's handler), or
    None when it is all of them or none."""
    if has_role(user, "operator") or has_role(user, "supervisor") or is_coordinator_of(user, department_id):
        return None
    return division_of(user) if is_handler_of(user, department_id) else None


def sees_letter(user: Any, letter: Letter) -> bool:
    """sees_department, and a division's handler only the letters of its division."""
    if not sees_department(user, letter.department_id):
        return False
    division = division_scope(user, letter.department_id)
    return division is None or letter.division_id == division
