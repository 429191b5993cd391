"""Masking of identifier values, so that the tool's own output does not become a leak."""

from __future__ import annotations


def mask_value(id_type: str, value: str) -> str:
    """Keep just enough of a value to recognise it, never enough to reuse it.

    Coordinates keep one decimal (about 11 km); everything else keeps a short
    prefix and suffix, e.g. ``86**********285``.
    """
    if id_type == "location":
        try:
            lat, lng = (float(part) for part in value.split(",", 1))
        except ValueError:
            return "*" * len(value)
        return f"{lat:.1f}*,{lng:.1f}*"
    if id_type == "email" and "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    n = len(value)
    if n >= 10:
        return value[:2] + "*" * (n - 5) + value[-3:]
    if n >= 6:
        return value[:1] + "*" * (n - 2) + value[-1:]
    return "*" * n
