"""One spelling per identifier, so the same value found two ways dedupes.

A phone seen as ``+86 138-0013-8000`` in one field and ``13800138000`` in
another, or a MAC in upper and lower case, must end up as one finding; the
pattern and profile detectors both go through :func:`canonical_value`.
"""

from __future__ import annotations

from leaktrace.detectors.validators import cn_mobile_national

_DIGITS_ONLY = frozenset({"imei", "imsi", "bank_card"})
_ALNUM_UPPER = frozenset({"iccid", "meid", "id_card"})
# Hex identifiers (case carries no meaning); utdid is base64, so its case stays.
_LOWER = frozenset({"android_id", "ad_id", "oaid", "vaid", "aaid", "email"})
_MAC_LIKE = frozenset({"mac", "bssid"})


def canonical_value(type_id: str, raw: str) -> str:
    value = raw.strip()
    if type_id in _DIGITS_ONLY:
        digits = "".join(ch for ch in value if ch.isascii() and ch.isdigit())
        return digits or value
    if type_id in _ALNUM_UPPER:
        return "".join(ch for ch in value if ch.isascii() and ch.isalnum()).upper() or value
    if type_id in _LOWER:
        return value.lower()
    if type_id in _MAC_LIKE:
        return canonical_mac(value)
    if type_id == "phone":
        return canonical_phone(value)
    return value


def canonical_mac(value: str) -> str:
    """``aa:bb:cc:dd:ee:ff``; anything that is not 12 hex digits is only lower-cased."""
    compact = "".join(ch for ch in value if ch not in ":-. ").lower()
    if len(compact) != 12 or any(ch not in "0123456789abcdef" for ch in compact):
        return value.lower()
    return ":".join(compact[i : i + 2] for i in range(0, 12, 2))


def canonical_phone(value: str) -> str:
    """National 11 digits for mainland mobiles, E.164 for the rest when parseable."""
    national = cn_mobile_national(value)
    if national is not None:
        return national
    compact = value.replace(" ", "").replace("-", "")
    if compact.startswith("+"):
        import phonenumbers  # 25 ms to import; only '+' numbers need it

        try:
            parsed = phonenumbers.parse(compact, None)
        except phonenumbers.NumberParseException:
            return compact
        return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
    return compact
