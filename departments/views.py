from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from core import params
from core.http import error_response
from departments.models import TIMED_KINDS, Department, DepartmentKind, Division, TimeLimit
from departments.registry import department_json


@require_GET
def department_list(request: HttpRequest) -> JsonResponse:
    """GET /api/departments/ — the registry, with each department's letter time limits."""
    try:
        kind = params.choice(request.GET, "kind", DepartmentKind.values)
    except params.ParameterError as error:
        return error_response(error)
    departments = Department.objects.all()
    if kind:
        departments = departments.filter(kind=kind)
    if request.GET.get("all") != "1":
        departments = departments.filter(active=True)
    limits = _time_limits()
    divisions: dict[int, list[dict]] = {}
    for division in Division.objects.order_by("code"):
        divisions.setdefault(division.department_id, []).append(
            {"code": division.code, "name": division.name}
        )
    return JsonResponse(
        {
            "departments": [
                {
                    **department_json(d),
                    "time_limits": limits.get(d.pk, limits[None]),
                    "divisions": divisions.get(d.pk, []),
                }
                for d in departments
            ]
        }
    )


def _time_limits() -> dict[int | None, dict]:
    """Limits per department id, each kind falling back to the default row (department None)."""
    by_department: dict[int | None, dict] = {None: {}}
    for limit in TimeLimit.objects.all():
        by_department.setdefault(limit.department_id, {})[limit.letter_kind] = {
            "sign": {"limit": limit.sign_limit, "unit": limit.sign_unit},
            "reply": {"limit": limit.reply_limit, "unit": limit.reply_unit},
            "yellow_share": f"{limit.yellow_numerator}/{limit.yellow_denominator}",
        }
    defaults = by_department[None]
    for department_id, own in by_department.items():
        if department_id is not None:
            by_department[department_id] = {
                kind: own.get(kind, defaults.get(kind)) for kind, _label in TIMED_KINDS
            }
    return by_department
