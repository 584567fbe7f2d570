"""Loading the registry from its data file, and reading it for the API and pages."""

import json
from pathlib import Path

from django.db import transaction

from departments.models import Department

DATA_FILE = Path(__file__).parent / "data" / "departments.json"


@transaction.atomic
def load_registry(path: Path = DATA_FILE) -> int:
    """Create or update every department of the data file; returns how many it holds."""
    rows = json.loads(path.read_text(encoding="utf-8"))
    for row in rows:
        Department.objects.update_or_create(
            code=row["code"],
            defaults={
                "name": row["name"],
                "short_name": row["short_name"],
                "kind": row["kind"],
                "display_order": row["order"],
            },
        )
    return len(rows)


def department_json(department: Department) -> dict:
    return {
        "code": department.code,
        "name": department.name,
        "short_name": department.short_name,
        "kind": department.kind,
        "active": department.active,
    }
