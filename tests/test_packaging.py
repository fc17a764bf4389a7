"""What the base install needs: the main job and the oracle run without the test extras."""

import subprocess
import sys


def test_verify_and_check_import_without_hypothesis_or_pytest():
    code = ("import sys; sys.modules['hypothesis'] = None; sys.modules['pytest'] = None\n"
            "import autodiff_ref.cli, autodiff_ref.verify, autodiff_ref.oracle.check, autodiff_ref.oracle.vectors\n"
            "from autodiff_ref.commands import COMMANDS\n")
    subprocess.run([sys.executable, "-c", code], check=True)
