"""The ``silkport`` command line: one module per command group (see :mod:`chain.cli.main`)."""

from chain.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
