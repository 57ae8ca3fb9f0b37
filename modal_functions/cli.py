"""`canvascast`: the command line. Each domain registers its own subcommands."""

from __future__ import annotations

import argparse
import importlib
import sys

# Each module exposes `register(subparsers)`; a subcommand sets `func(args) -> int`.
_COMMAND_MODULES = [
    "modal_functions.api.commands",
    "modal_functions.contract.export",
    "modal_functions.storage.commands",
    "modal_functions.images.commands",
    "modal_functions.align.commands",
    "modal_functions.render.commands",
    "modal_functions.modal_layer.commands",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="canvascast", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:  # that domain has no commands yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
