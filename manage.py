#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.dev")
    from django.core.management import execute_from_command_line

    from settings.env import BadSetting

    try:
        execute_from_command_line(sys.argv)
    except BadSetting as exc:  # one line naming the variable, not a traceback through settings/
        sys.exit(f"Configuration error: {exc}")
