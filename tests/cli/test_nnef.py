"""The ``nnef`` entry point: its commands, its one error boundary, its aliases."""

import importlib
import os
import signal
import subprocess
import sys
import time
from importlib.metadata import version

import pytest

from nnef_dists import cli
from nnef_dists.errors import ConfigError


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"nnef-dists {version('nnef-dists')}"


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in cli.COMMANDS)


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main([command, "--help"])
    assert stop.value.code == 0
    assert f"usage: nnef {command}" in capsys.readouterr().out


def test_no_or_unknown_command_is_a_usage_error(capsys):
    for argv in ([], ["genrate"]):
        with pytest.raises(SystemExit) as stop:
            cli.main(argv)
        assert stop.value.code == 2
    assert "invalid choice: 'genrate'" in capsys.readouterr().err


def test_a_user_error_is_one_line_and_status_2(tmp_path, capsys, monkeypatch):
    missing = tmp_path / "nope.yaml"
    assert cli.main(["generate", "--config", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {missing}: no such config file\n"

    def fails(args):
        raise ConfigError("somewhere: something")

    monkeypatch.setattr(importlib.import_module("nnef_dists.cli.cavi"), "run", fails)
    assert cli.main(["cavi", "--config", "x.yaml"]) == 2
    assert capsys.readouterr().err == "error: somewhere: something\n"


def test_ctrl_c_is_one_line_and_status_130(capsys, monkeypatch):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib.import_module("nnef_dists.cli.evaluate"), "run", interrupted)
    assert cli.main(["evaluate", "--model", "m", "--data", "d.pkl"]) == 130
    assert capsys.readouterr().err == "interrupted: nothing was written\n"
    monkeypatch.setattr(importlib.import_module("nnef_dists.cli.generate"), "run", interrupted)
    assert cli.main(["generate", "--config", "c.yaml"]) == 130
    assert "rerun the same command to continue" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("module", "usage"),
    [
        ("nnef_dists.cli", "usage: nnef "),
        ("nnef_dists.generate_data", "usage: nnef generate"),
        ("nnef_dists.models.glow_et.train", "usage: nnef train"),
    ],
)
def test_python_m_forms_run_the_same_command(module, usage):
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and done.stdout.startswith(usage)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.usefixtures("sigint_as_in_a_terminal")
def test_an_interrupt_wrapped_by_a_library_is_still_one_line_and_status_130(
    signum, capsys, monkeypatch
):
    """A signal that lands in a compiled library's Python callback comes back wrapped
    (JAX's compiler hands it on as RuntimeError): still an interrupt, not a traceback."""

    def interrupted_in_a_callback(args):
        try:
            os.kill(os.getpid(), signum)
            time.sleep(5)  # the handler raises here, as it would inside the callback
        except KeyboardInterrupt as err:
            raise RuntimeError("Exception raised in callback") from err

    generate = importlib.import_module("nnef_dists.cli.generate")
    monkeypatch.setattr(generate, "run", interrupted_in_a_callback)
    assert cli.main(["generate", "--config", "c.yaml"]) == 130
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "rerun the same command to continue" in lines[0]


def test_an_error_without_an_interrupt_is_not_hidden(monkeypatch):
    def fails(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(importlib.import_module("nnef_dists.cli.generate"), "run", fails)
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["generate", "--config", "c.yaml"])


def test_signal_handlers_are_restored_and_an_ignored_sigint_stays_ignored(monkeypatch):
    """After a command, SIGINT and SIGTERM have the handlers they had before; a SIGINT
    ignored by the caller (a shell's background job) is neither caught nor restored."""
    monkeypatch.setattr(importlib.import_module("nnef_dists.cli.cavi"), "run", lambda a: 0)
    before = {s: signal.getsignal(s) for s in cli.INTERRUPTS}
    assert cli.main(["cavi", "--config", "x.yaml"]) == 0
    assert {s: signal.getsignal(s) for s in cli.INTERRUPTS} == before
    seen = []
    monkeypatch.setattr(
        importlib.import_module("nnef_dists.cli.cavi"),
        "run",
        lambda a: seen.append(signal.getsignal(signal.SIGINT)),
    )
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        assert cli.main(["cavi", "--config", "x.yaml"]) == 0
        assert seen == [signal.SIG_IGN] and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
