"""`bp-oracle train` and `diagnose` check every output path before they train: a path they cannot
write is one line and exit 2 at once, not after minutes of training (issue #12)."""

import os

import pytest

from bp_oracle.commands import diagnose_command as diagnose_command
from bp_oracle.commands import train_command as train_command


@pytest.fixture
def no_training(monkeypatch):
    """Training (and loading the data) fails the test if it starts at all."""
    def never(*args, **kwargs):
        raise AssertionError("training started before the output paths were checked")
    for module in (train_command, diagnose_command):
        monkeypatch.setattr(module, "train", never)
        monkeypatch.setattr(module, "load_data", never)


def _unwritable(tmp_path):
    """Paths no one can write to, root included: (path, what the message says)."""
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    (tmp_path / "a_folder").mkdir()
    return [(tmp_path / "missing" / "run.json", "does not exist"),
            (blocker / "run.json", "is not a folder"),
            (tmp_path / "a_folder", "it is a folder")]


@pytest.mark.parametrize("command", ["train", "diagnose"])
def test_an_unwritable_json_path_is_exit_2_before_any_training(command, run_cli, tmp_path, no_training):
    extra = ["--no-plots"] if command == "diagnose" else []
    for path, why in _unwritable(tmp_path):
        code, out, err = run_cli(command, "--epochs", "1", *extra, "--json", path)
        assert code == 2, err
        assert err.count("\n") == 1 and err.startswith(f"bp-oracle: error: cannot write {path} (--json): ")
        assert why in err and "Traceback" not in err
        assert out == "" and "epoch" not in out  # nothing printed: the data was not even loaded


def test_diagnose_checks_json_before_creating_the_plot_folder(run_cli, tmp_path, no_training):
    figures = tmp_path / "figures"
    code, out, err = run_cli("diagnose", "--out", figures, "--json", tmp_path / "missing" / "d.json")
    assert code == 2 and "cannot write" in err and out == ""
    assert not figures.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
@pytest.mark.parametrize("command", ["train", "diagnose"])
def test_a_read_only_folder_is_exit_2_before_any_training(command, run_cli, tmp_path, no_training):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, out, err = run_cli(command, "--json", locked / "run.json", "--out", locked / "figures") \
            if command == "diagnose" else run_cli(command, "--json", locked / "run.json")
        assert code == 2 and "permission denied" in err and out == ""
    finally:
        locked.chmod(0o700)


def test_a_writable_json_path_still_gets_its_summary(run_cli, tmp_path):
    path = tmp_path / "run.json"
    code, out, err = run_cli("train", "--epochs", "1", "--json", path)
    assert code == 0, err
    assert "epoch 1/1" in out and f"wrote {path}" in out and path.read_text().startswith("{")
