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
    argv[1:2] = ["train_win_model"] if argv[1:2] == ["train-win-model"] else argv[1:2]  # H-WINP
    # mailing-bounces: crm process-bounces PATH
    argv[1:2] = ["process_bounces"] if argv[1:2] == ["process-bounces"] else argv[1:2]
    # R8.4: crm rebuild-stage-stays [--org ID|NAME]
    argv[1:2] = ["rebuild_stage_stays"] if argv[1:2] == ["rebuild-stage-stays"] else argv[1:2]
    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
