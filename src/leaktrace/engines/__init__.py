"""Alternative packet engines that produce the same Messages as the native capture path."""

from enum import StrEnum


class EngineName(StrEnum):
    """Which engine turns packets into Messages: the fast native parsers or tshark's."""

    native = "native"
    tshark = "tshark"
