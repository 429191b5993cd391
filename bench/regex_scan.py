"""The peer's second half: what a user pipes tshark's fields into, a regex scan for identifiers.

Uses leaktrace's own identifier regexes (``signatures/identifiers/*.yaml``) so
both sides look for the same things, each compiled with Python ``re`` and run
over every line, as a script would; no validators and no decoding beyond what
tshark already did (it un-chunks and un-gzips HTTP bodies). Types whose
detector is code rather than a regex get the simple pattern a user would write.

    tshark -r F -Y http.request -T fields -e http.host -e http.request.uri \\
        -e http.file_data | python -m bench.regex_scan
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import yaml

SIGNATURES = Path(__file__).resolve().parent.parent / "signatures" / "identifiers"
# What a script would use for the types leaktrace finds with code instead of a regex.
FALLBACK = {
    "location": r"(?i)\b(?:lat|latitude)\b[\"']?\s*[:=]\s*[\"']?-?[0-9]{1,2}\.[0-9]{3,}",
}


def load_patterns(folder: Path = SIGNATURES) -> list[tuple[str, re.Pattern[str]]]:
    patterns: list[tuple[str, re.Pattern[str]]] = []
    for path in sorted(folder.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        kind = str(doc["id"])
        regexes = [p["regex"] for p in doc.get("patterns") or () if p.get("regex")]
        if not regexes and kind in FALLBACK:
            regexes = [FALLBACK[kind]]
        for regex in regexes:
            try:
                patterns.append((kind, re.compile(regex)))
            except re.error:
                continue  # a pattern only the multi-pattern engine's dialect accepts
    return patterns


def scan(lines: Iterable[str], patterns: list[tuple[str, re.Pattern[str]]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in lines:
        for kind, pattern in patterns:
            for _ in pattern.finditer(line):
                counts[kind] += 1
    return counts


def main() -> int:
    patterns = load_patterns()
    lines = 0

    def counted(stream: Iterable[str]) -> Iterator[str]:
        nonlocal lines
        for line in stream:
            lines += 1
            yield line

    with open(sys.stdin.fileno(), encoding="utf-8", errors="replace", closefd=False) as stream:
        counts = scan(counted(stream), patterns)
    print(json.dumps({"lines": lines, "patterns": len(patterns), "matches": dict(counts)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
