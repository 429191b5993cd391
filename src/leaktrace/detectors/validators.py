"""Check digits and structure that a regex alone cannot express.

Real traffic is full of numbers and hex strings that merely look like
identifiers (order ids, trace ids, timestamps). Each validator is a pure
``str -> bool`` so a candidate is only reported when its internal structure
agrees, which is what keeps false positives down without key hints.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

CN_MOBILE = re.compile(r"1(?:3\d|4[5-9]|5[0-35-9]|6[2567]|7[0-8]|8\d|9[0-35-9])\d{8}")
"""MIIT mobile network number ranges (2023-03 table); 140-144 are 13-digit IoT numbers."""

CN_IMSI_MNC: frozenset[str] = frozenset(
    {"00", "01", "02", "03", "04", "05", "06", "07", "08", "09", "11", "15", "20"}
)
"""MNCs under MCC 460: CM 00/02/04/07/08, CU 01/06/09, CT 03/05/11, CBN 15, Tietong 20."""

OTHER_IMSI_MCC: frozenset[str] = frozenset(
    {
        "202", "204", "208", "214", "222", "234", "235", "250", "262", "302",
        "310", "311", "312", "313", "314", "315", "316", "404", "405", "440",
        "441", "450", "454", "455", "466", "502", "505", "510", "515", "520",
        "525", "724",
    }
)  # fmt: skip
"""A few common non-Chinese MCCs (ITU E.212), enough for keyed IMSIs of travellers' SIMs."""

CN_ICCID_OPERATORS: frozenset[str] = frozenset(
    {"00", "01", "02", "03", "04", "06", "07", "09", "11"}
)

_BOGUS_ANDROID_IDS = frozenset({"9774d56d682e549c"})
_BOGUS_MACS = frozenset({"000000000000", "ffffffffffff", "020000000000"})
_ID_CARD_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CARD_CHECK = "10X98765432"
_HEX = frozenset("0123456789abcdefABCDEF")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_MAC = re.compile(r"[0-9A-Fa-f]{2}(?:([:-]?)[0-9A-Fa-f]{2})(?:\1[0-9A-Fa-f]{2}){4}")
_EMAIL = re.compile(
    r"(?P<local>[A-Za-z0-9._%+-]{1,64})@(?P<domain>(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,24})"
)
# "icon@2x.png" and friends: asset names look like addresses.
_FILE_TLDS = frozenset(
    {"png", "jpg", "jpeg", "gif", "webp", "svg", "bmp", "ico", "js", "css", "json", "html", "mp4"}
)
_CELL_MAX = 1 << 36
_CELL_PLACEHOLDERS = frozenset({0xFFFF, 0xFFFFFF, 0xFFFFFFF, 2147483647})
MIN_INSTALLED_APPS = 6
_PACKAGE = re.compile(r"(?<![A-Za-z0-9_.])[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)+")
# Last labels that make a dotted name a host name, not an application id.
_HOST_TLDS = frozenset(
    {"com", "cn", "net", "org", "io", "co", "info", "top", "xyz", "me", "tv", "cc", "us", "uk"}
)
_RUNTIME_ROOTS = frozenset({"java", "javax", "kotlin", "kotlinx", "dalvik", "sun", "jdk"})
_COORD = re.compile(r"\s*(-?\d{1,3}(?:\.\d+)?)\s*,\s*(-?\d{1,3}(?:\.\d+)?)\s*")


def _digits(value: str) -> bool:
    return value.isascii() and value.isdigit()


def _is_hex(value: str) -> bool:
    return bool(value) and all(ch in _HEX for ch in value)


def _one_symbol(value: str) -> bool:
    return len(set(value.lower())) <= 1


def luhn(value: str) -> bool:
    """ISO/IEC 7812 check digit over a decimal string (last digit is the check)."""
    if not _digits(value) or len(value) < 2:
        return False
    total = 0
    for index, ch in enumerate(reversed(value)):
        digit = ord(ch) - 48
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def imei(value: str) -> bool:
    """15 digits, Luhn over TAC+SNR, and not a placeholder such as all zeros."""
    return len(value) == 15 and _digits(value) and not _one_symbol(value) and luhn(value)


def meid(value: str) -> bool:
    """14 hex digits with regional code A0-FF (optional 15th check digit), or the 18-digit form.

    The decimal form is the 32-bit manufacturer code (10 digits) followed by
    the 24-bit serial (8 digits), so both halves have hard upper bounds.
    """
    if len(value) in (14, 15) and _is_hex(value[:14]):
        if len(value) == 15 and not value[14].isdigit():
            return False
        return int(value[:2], 16) >= 0xA0 and not _one_symbol(value[2:14])
    if len(value) == 18 and _digits(value):
        manufacturer, serial = int(value[:10]), int(value[10:])
        return 0xA0000000 <= manufacturer <= 0xFFFFFFFF and serial <= 0xFFFFFF
    return False


def imsi(value: str) -> bool:
    """MCC 460 with a known Chinese MNC, or a listed foreign MCC; MSIN not a placeholder."""
    if len(value) != 15 or not _digits(value):
        return False
    mcc = value[:3]
    if mcc == "460":
        return value[3:5] in CN_IMSI_MNC and not _one_symbol(value[5:])
    return mcc in OTHER_IMSI_MCC and not _one_symbol(value[6:])


def iccid(value: str) -> bool:
    """19-20 characters starting 89 with a Luhn check digit.

    Legacy China Unicom cards end in a letter instead of a check digit, so
    those are accepted only under the 8986 prefix with a known operator code.
    """
    if len(value) not in (19, 20) or not value.startswith("89"):
        return False
    if _digits(value):
        return luhn(value)
    body, last = value[:-1], value[-1]
    return (
        len(value) == 20
        and _digits(body)
        and last.isascii()
        and last.isalpha()
        and body.startswith("8986")
        and body[4:6] in CN_ICCID_OPERATORS
    )


def cn_mobile_national(value: str) -> str | None:
    """The 11-digit national number if ``value`` is a mainland mobile number, else None."""
    compact = value.replace(" ", "").replace("-", "")
    for prefix in ("+86", "0086", "86"):
        if compact.startswith(prefix) and len(compact) == len(prefix) + 11:
            compact = compact[len(prefix) :]
            break
    if len(compact) == 11 and _digits(compact) and CN_MOBILE.fullmatch(compact):
        return compact
    return None


def phone(value: str) -> bool:
    """A mainland mobile number, or an explicit ``+`` E.164 number phonenumbers calls valid."""
    if cn_mobile_national(value) is not None:
        return True
    compact = value.replace(" ", "").replace("-", "")
    if not compact.startswith("+") or not _digits(compact[1:]):
        return False
    import phonenumbers  # 25 ms to import; only '+' numbers need it

    try:
        parsed = phonenumbers.parse(compact, None)
    except phonenumbers.NumberParseException:
        return False
    # +86 numbers that are not mobiles were already rejected above on purpose.
    return parsed.country_code != 86 and bool(phonenumbers.is_valid_number(parsed))


def email(value: str) -> bool:
    """RFC-lite address with a real-looking top-level domain (not ``icon@2x.png``)."""
    m = _EMAIL.fullmatch(value)
    if m is None or len(value) > 254:
        return False
    local, domain = m.group("local"), m.group("domain")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return False
    labels = domain.split(".")
    if any(label.startswith("-") or label.endswith("-") for label in labels):
        return False
    return labels[-1].lower() not in _FILE_TLDS


def mac(value: str) -> bool:
    """Six octets with consistent separators, excluding the placeholders Android reports."""
    if _MAC.fullmatch(value) is None:
        return False
    compact = value.replace(":", "").replace("-", "").lower()
    return compact not in _BOGUS_MACS and not _one_symbol(compact)


def android_id(value: str) -> bool:
    """16 hex digits, not the well-known bogus constant nor a repeated digit."""
    return (
        len(value) == 16
        and _is_hex(value)
        and value.lower() not in _BOGUS_ANDROID_IDS
        and not _one_symbol(value)
    )


def uuid(value: str) -> bool:
    """8-4-4-4-12 hex; the all-zero UUID means 'opted out' and identifies nobody."""
    return _UUID.fullmatch(value) is not None and not _one_symbol(value.replace("-", ""))


def oaid(value: str) -> bool:
    """Vendor formats differ: a UUID, or 16-64 hex digits; never all one digit."""
    if "-" in value:
        return uuid(value)
    return 16 <= len(value) <= 64 and _is_hex(value) and not _one_symbol(value)


def serial(value: str) -> bool:
    """6-20 letters and digits with at least one of each; ``unknown`` is Android 10's stub."""
    return (
        6 <= len(value) <= 20
        and value.isascii()
        and value.isalnum()
        and any(ch.isdigit() for ch in value)
        and any(ch.isalpha() for ch in value)
        and value.lower() != "unknown"
        and not _one_symbol(value)
    )


def id_card(value: str) -> bool:
    """GB 11643-1999: region digit 1-8, a real birth date, and the mod-11 check character."""
    if len(value) != 18 or not _digits(value[:17]):
        return False
    if value[0] not in "12345678":
        return False
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    if not 1900 <= born.year <= 2099:
        return False
    total = sum(int(ch) * w for ch, w in zip(value[:17], _ID_CARD_WEIGHTS, strict=True))
    return _ID_CARD_CHECK[total % 11] == value[17].upper()


def bank_card(value: str) -> bool:
    """16-19 digits with a Luhn check digit."""
    return 16 <= len(value) <= 19 and _digits(value) and not _one_symbol(value) and luhn(value)


def imeisv(value: str) -> bool:
    """16 digits (TAC 8, SNR 6, SVN 2) with no check digit; SVN 99 is reserved."""
    return (
        len(value) == 16
        and _digits(value)
        and not _one_symbol(value)
        and value[:8] != "00000000"
        and value[14:] != "99"
    )


def cell_id(value: str) -> bool:
    """A LAC/TAC/CID/ECI/NCI: 1 to 2**36-1 (NR cell identity is 36-bit).

    Android reports ``Integer.MAX_VALUE`` for an unavailable field and 0xFFFF
    is an invalid LAC, so those placeholders name no cell.
    """
    if not _digits(value) or len(value) > 11 or (len(value) > 1 and value[0] == "0"):
        return False
    number = int(value)
    return 0 < number < _CELL_MAX and number not in _CELL_PLACEHOLDERS


def installed_apps(value: str) -> bool:
    """More than five distinct Android package names, and not host names or class names.

    Runs over the whole matched list: one package name is an app id, six are
    a profile of the user. Lists of host names (``a.b.com``) and of Java
    classes (``java.lang.String``) share the shape and are refused.
    """
    names = {m.group(0) for m in _PACKAGE.finditer(value)}
    if len(names) < MIN_INSTALLED_APPS:
        return False
    hosts = sum(1 for n in names if n.rsplit(".", 1)[-1].lower() in _HOST_TLDS or n[:4] == "www.")
    runtime = sum(1 for n in names if n.split(".", 1)[0] in _RUNTIME_ROOTS)
    return hosts * 3 < len(names) and runtime * 2 < len(names)


def utdid(value: str) -> bool:
    """Alibaba UTDID: 24 base64 characters, i.e. 18 bytes, not one repeated symbol."""
    return (
        len(value) == 24
        and value.isascii()
        and all(ch.isalnum() or ch in "+/" for ch in value)
        and not _one_symbol(value)
        and sum(ch.isdigit() for ch in value) < 24
    )


def coordinates(value: str) -> bool:
    """``lat,lng`` in range and not the null island placeholder."""
    m = _COORD.fullmatch(value)
    if m is None:
        return False
    lat, lng = float(m.group(1)), float(m.group(2))
    return -90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0 and (lat, lng) != (0.0, 0.0)


@dataclass(frozen=True, slots=True)
class ValidatorSpec:
    check: Callable[[str], bool]
    evidence: str  # recorded on a Detection when the check passed


VALIDATORS: dict[str, ValidatorSpec] = {
    "luhn": ValidatorSpec(luhn, "luhn_ok"),
    "imei": ValidatorSpec(imei, "luhn_ok"),
    "meid": ValidatorSpec(meid, "meid_format_ok"),
    "imsi": ValidatorSpec(imsi, "mcc_mnc_ok"),
    "iccid": ValidatorSpec(iccid, "iccid_check_ok"),
    "phone": ValidatorSpec(phone, "number_plan_ok"),
    "email": ValidatorSpec(email, "email_format_ok"),
    "mac": ValidatorSpec(mac, "mac_format_ok"),
    "android_id": ValidatorSpec(android_id, "android_id_format_ok"),
    "uuid": ValidatorSpec(uuid, "uuid_format_ok"),
    "oaid": ValidatorSpec(oaid, "oaid_format_ok"),
    "serial": ValidatorSpec(serial, "serial_format_ok"),
    "id_card": ValidatorSpec(id_card, "checksum_ok"),
    "bank_card": ValidatorSpec(bank_card, "luhn_ok"),
    "coordinates": ValidatorSpec(coordinates, "range_ok"),
    "imeisv": ValidatorSpec(imeisv, "imeisv_format_ok"),
    "cell_id": ValidatorSpec(cell_id, "cell_range_ok"),
    "installed_apps": ValidatorSpec(installed_apps, "package_list_ok"),
    "utdid": ValidatorSpec(utdid, "utdid_format_ok"),
}
