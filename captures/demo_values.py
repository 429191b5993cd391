"""Ground truth of the demo: the fictional phone's identifiers and what each leak looks like.

Everything the demo sends is derived here from fixed values, so the capture, the
device file and the expected-findings file cannot drift apart: the traffic script
and the YAML writer both read the same constants and functions.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

IMEI_BODY = "86891503472619"  # TAF China TAC 86891503, serial 472619; check digit appended
ICCID_BODY = "8986002018473652910"  # 8986 00 = China Mobile; check digit appended
IMSI = "460001357924680"  # MCC 460, MNC 00 (China Mobile)
ANDROID_ID = "3f6a2b91c0d4e857"
AD_ID = "5e1c2d7a-9b34-4f0e-a6c8-2d17b3e94f60"
MAC = "a4:5e:60:c1:22:9b"
PHONE = "13867452109"
WGS84_LAT = 39.908722
WGS84_LNG = 116.397499
LOCATION_RADIUS_M = 100
LOCATION_ACCURACY_M = 12.5

APP_ID = "com.example.demoshop"
APP_NAME = "Demo Shop"
USER_AGENT = "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 7 Build/UQ1A.240205.004)"

DNS_SERVER = "127.0.0.153"
PHONE_ADDR = "127.0.0.2"
JPUSH_PORT = 19000

# Each fictional host gets its own loopback address so flows differ by IP alone.
HOSTS: dict[str, str] = {
    "api.shop.example.com": "127.0.0.10",
    "mobads.baidu.com": "127.0.0.11",
    "loc.map.baidu.com": "127.0.0.12",
    "im.jpush.cn": "127.0.0.13",
    "app-measurement.com": "127.0.0.14",
}


def luhn_check_digit(body: str) -> str:
    """The digit that makes ``body + digit`` pass Luhn, as IMEI and ICCID require."""
    total = 0
    for index, char in enumerate(reversed(body)):
        digit = int(char)
        if index % 2 == 0:  # these positions are doubled once the check digit is appended
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return number.isdigit() and luhn_check_digit(number[:-1]) == number[-1]


IMEI = IMEI_BODY + luhn_check_digit(IMEI_BODY)
ICCID = ICCID_BODY + luhn_check_digit(ICCID_BODY)
ANDROID_ID_MD5 = hashlib.md5(ANDROID_ID.encode("ascii")).hexdigest()

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 obfuscation.
_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0


def _transform_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lng(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    """Apply the GCJ-02 offset; the demo point is inside China so no bounds check is needed."""
    dlat = _transform_lat(lng - 105.0, lat - 35.0)
    dlng = _transform_lng(lng - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = 1 - _KRASOVSKY_EE * math.sin(radlat) ** 2
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_KRASOVSKY_A * (1 - _KRASOVSKY_EE)) / (magic * sqrtmagic) * math.pi)
    dlng = (dlng * 180.0) / (_KRASOVSKY_A / sqrtmagic * math.cos(radlat) * math.pi)
    return lat + dlat, lng + dlng


def gcj02_to_bd09(lat: float, lng: float) -> tuple[float, float]:
    z = math.sqrt(lng * lng + lat * lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lng) + 0.000003 * math.cos(lng * _X_PI)
    return z * math.sin(theta) + 0.006, z * math.cos(theta) + 0.0065


def bd09_location() -> tuple[float, float]:
    """The device fix as Baidu's SDK would report it, rounded like the SDK does."""
    lat, lng = gcj02_to_bd09(*wgs84_to_gcj02(WGS84_LAT, WGS84_LNG))
    return round(lat, 6), round(lng, 6)


def compact_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def register_body() -> bytes:
    return compact_json(
        {"device": {"aid": ANDROID_ID_MD5, "model": "Pixel 7", "os": "14"}, "app": {"ver": "3.2.1"}}
    )


def location_json() -> bytes:
    lat, lng = bd09_location()
    return compact_json({"coor": "bd09ll", "lat": lat, "lng": lng, "acc": LOCATION_ACCURACY_M})


def location_req_field() -> str:
    """base64(gzip(JSON)); mtime=0 keeps the gzip header, and so the capture, reproducible."""
    return base64.b64encode(gzip.compress(location_json(), mtime=0)).decode("ascii")


def jpush_frame() -> bytes:
    """2-byte big-endian length of what follows, 1 type byte (0x01 = register), JSON."""
    payload = b"\x01" + compact_json({"platform": "a", "imsi": IMSI, "sdkver": "5.2.0"})
    return len(payload).to_bytes(2, "big") + payload


JPUSH_ACK = b"\x00\x03\x81\x00\x00"  # length 3, type 0x81 (register ack), status 0


@dataclass(frozen=True, slots=True)
class PlantedLeak:
    type: str
    value: Any
    host: str
    transport: str
    party: str
    sdk: str | None
    where: str
    form: str


def planted_leaks() -> list[PlantedLeak]:
    lat, lng = bd09_location()
    return [
        PlantedLeak(
            type="imei", value=IMEI, host="mobads.baidu.com", transport="http",
            party="third", sdk="baidu_mobads", where="query:did", form="plain",
        ),
        PlantedLeak(
            type="android_id", value=ANDROID_ID_MD5, host="api.shop.example.com",
            transport="http", party="first", sdk=None, where="body>json:$.device.aid",
            form="md5",
        ),
        PlantedLeak(
            type="phone", value=PHONE, host="api.shop.example.com", transport="http",
            party="first", sdk=None, where="body>form:mobile", form="plain",
        ),
        PlantedLeak(
            type="location", value={"lat": lat, "lng": lng}, host="loc.map.baidu.com",
            transport="http", party="third", sdk="baidu_location",
            where="body>form:req>base64>gzip>json:$.lat", form="bd09",
        ),
        PlantedLeak(
            type="imsi", value=IMSI, host="im.jpush.cn", transport="tcp",
            party="third", sdk="jpush", where="payload", form="plain",
        ),
    ]  # fmt: skip
