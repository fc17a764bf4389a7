"""What the base install needs: the main job and the oracle run without the test extras."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # a fresh interpreter importing every command


def test_verify_and_check_import_without_hypothesis_or_pytest():
    code = ("import sys; sys.modules['hypothesis'] = None; sys.modules['pytest'] = None\n"
            "import bp_oracle.cli, bp_oracle.sweep.engine, bp_oracle.check, bp_oracle.vectors\n"
            "from bp_oracle.commands import COMMANDS, load\n"
            "for name in COMMANDS: load(name)\n")
    subprocess.run([sys.executable, "-c", code], check=True)
