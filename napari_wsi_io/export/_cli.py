"""Placeholder until the export subcommand lands; replaced by its issue's work."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    pass
