"""Default time limits per letter kind (working days), editable in the admin per department."""

from django.db import migrations

DEFAULTS = {
    # kind: (sign-for limit, reply limit), in working days
    "consultation": (1, 5),
    "opinion": (1, 10),
    "suggestion": (1, 10),
    "report": (1, 15),
    "complaint": (1, 10),
}


def create(apps, schema_editor):
    TimeLimit = apps.get_model("departments", "TimeLimit")
    for kind, (sign, reply) in DEFAULTS.items():
        TimeLimit.objects.get_or_create(
            department=None, letter_kind=kind, defaults={"sign_limit": sign, "reply_limit": reply}
        )


def remove(apps, schema_editor):
    apps.get_model("departments", "TimeLimit").objects.filter(department=None).delete()


class Migration(migrations.Migration):
    dependencies = [("departments", "0001_initial")]
    operations = [migrations.RunPython(create, remove)]
