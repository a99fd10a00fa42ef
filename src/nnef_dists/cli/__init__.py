"""The ``nnef`` command: one parser, a subcommand per module, one error boundary (README: Commands).

    nnef generate | train | evaluate | fit | moments | natural | cavi
        | cde train|infer|coverage | demo
    nnef --version

Each command module of this package exposes ``add_arguments(parser)`` and
``run(args)`` (returning an exit status, or None for 0), and may expose
``interrupted(args)``: a line saying what was kept and how to continue. Any
``NnefError`` prints one line ``error: ...`` and exits with status 2;
Ctrl-C or SIGTERM prints one line and exits with status 130, also when the
interrupt reached Python inside a compiled library's callback, which hands it
on wrapped in another exception (JAX's compiler: ``RuntimeError``).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from importlib import import_module

from nnef_dists import runtime
from nnef_dists.errors import NnefError
from nnef_dists.versions import installed_version

#: command -> one-line description; the module is nnef_dists.cli.<command>.
COMMANDS = {
    "generate": "generate a data set from a YAML data config",
    "train": "train an ET network on a data set",
    "evaluate": "score a trained ET network on a data set",
    "fit": "from T(x) to a trusted moment map: generate, train, evaluate, refine",
    "moments": "a family's or a model's mu_T, A, entropy (and Cov) at the eta of a CSV",
    "natural": "the inverse map: eta from the mu of a CSV, with residual and converged flag",
    "cavi": "run a CAVI example config (configs/cavi)",
    "cde": "conditional density estimation with normalising flows (CSV files)",
    "demo": "the whole pipeline on a small built-in default",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``nnef`` parser; only ``command``'s module is imported and given its arguments.

    The other commands are listed by name and description, so that a command
    starts without importing what the others need.
    """
    parser = argparse.ArgumentParser(
        prog="nnef", description="Moment maps of exponential families without closed forms."
    )
    release = f"nnef-dists {installed_version('nnef-dists')}"
    parser.add_argument("--version", action="version", version=release)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in COMMANDS.items():
        sub = commands.add_parser(name, help=text, description=text)
        if name == command:
            module = import_module(f"nnef_dists.cli.{name}")
            sub.description = module.__doc__
            sub.formatter_class = argparse.RawDescriptionHelpFormatter
            module.add_arguments(sub)
            sub.set_defaults(module=module)
    return parser


def main(argv=None) -> int:
    """Run ``nnef`` with ``argv`` (default: the process's); returns the exit status."""
    runtime.configure()  # before any command starts JAX's backends
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    main_thread = threading.current_thread() is threading.main_thread()
    received = threading.Event()

    def interrupt(signum, frame):
        received.set()
        raise KeyboardInterrupt

    # Handlers only where Python set one (a background job ignores SIGINT: it still does).
    caught = [s for s in INTERRUPTS if signal.getsignal(s) not in (signal.SIG_IGN, None)]
    previous = {s: signal.signal(s, interrupt) for s in caught} if main_thread else {}
    try:
        status = args.module.run(args)
    except NnefError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Exception:
        if not received.is_set():
            raise
        return _interrupted(args)
    except KeyboardInterrupt:
        return _interrupted(args)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0 if status is None else status


#: The signals that stop a command as Ctrl-C does: what was kept is said, exit status 130.
INTERRUPTS = (signal.SIGINT, signal.SIGTERM)


def _interrupted(args) -> int:
    """Print the one line of an interrupted command; returns its exit status, 130."""
    kept = getattr(args.module, "interrupted", lambda _: "nothing was written")(args)
    print(f"interrupted: {kept}", file=sys.stderr)
    return 130


def alias(*command: str):
    """``main`` with ``command`` before its arguments: the ``python -m`` forms of the commands.

    Returns ``main(argv=None) -> exit status``, e.g. ``alias("generate")(["--config", C])``.
    """

    def aliased(argv=None) -> int:
        return main([*command, *(sys.argv[1:] if argv is None else argv)])

    aliased.__doc__ = f"``nnef {' '.join(command)}`` with ``argv``; returns the exit status."
    return aliased


def model_alias(module_name: str):
    """``alias("train", "--model", <model>)`` for the module ``nnef_dists.models.<model>.train``."""
    return alias("train", "--model", module_name.split(".")[-2])
