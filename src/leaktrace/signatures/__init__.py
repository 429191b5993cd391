"""Identifier and SDK signatures: YAML data, validated and compiled once per run."""

from leaktrace.signatures.loader import (
    ENV_VAR,
    SignatureError,
    SignatureSet,
    default_signature_dirs,
    load_signatures,
    with_user_dirs,
)
from leaktrace.signatures.model import (
    Confidence,
    Endpoint,
    IdentifierSig,
    PatternSig,
    SdkSig,
    normalize_key,
)

__all__ = [
    "ENV_VAR",
    "Confidence",
    "Endpoint",
    "IdentifierSig",
    "PatternSig",
    "SdkSig",
    "SignatureError",
    "SignatureSet",
    "default_signature_dirs",
    "load_signatures",
    "normalize_key",
    "with_user_dirs",
]
