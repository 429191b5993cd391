"""Recursive, bounded extraction of fields from messages.

``extract_fields`` turns one message into the values detectors scan: query
parameters, headers, cookies, body leaves, decoded layer by layer (gzip,
base64, JSON, forms, multipart) with the chain of steps recorded in each
field's ``where``. All work for a message is bounded by ``DecodeLimits``.
"""

from leaktrace.decoders.budget import DecodeLimits
from leaktrace.decoders.message import extract_fields

__all__ = ["DecodeLimits", "extract_fields"]
