"""The ``crm`` console command: Django's management command line with the project's settings.

Extra commands: ``crm serve``, ``crm worker``, ``crm demo``, ``crm createorg``, ``crm token``.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")
    from django.core.management import execute_from_command_line

    argv = list(sys.argv)
    argv[0] = "crm"
    argv[1:2] = ["load_maven"] if argv[1:2] == ["load-maven"] else argv[1:2]  # H-MAVEN
    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
