"""Read signature YAML files into one validated, compiled ``SignatureSet``.

Bad configuration is the one place the project raises: a broken signature must
stop the run before any traffic is judged with it, and the message has to
point at the file, line and field so it can be fixed without a debugger.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from leaktrace import cache as state_cache
from leaktrace.signatures.model import Endpoint, IdentifierSig, SdkSig

if TYPE_CHECKING:
    import yaml
    from pydantic import BaseModel, ValidationError

ENV_VAR = "LEAKTRACE_SIGNATURES"


@cache
def _safe_loader() -> type[yaml.SafeLoader]:
    """libyaml parses several times faster; node marks (lines) are the same.

    YAML is imported here, not at module level: a run whose signature set
    comes from the cache and that reads no device or declaration file never
    needs it.
    """
    import yaml

    loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return loader


# Far deeper than any signature, device or app file needs.
MAX_YAML_DEPTH = 64

_M = TypeVar("_M", bound="BaseModel")
Loc = tuple[int | str, ...]


class SignatureError(ValueError):
    """A signature (or device profile) file is unusable; ``problems`` lists every cause."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class SignatureSet:
    identifiers: dict[str, IdentifierSig]
    sdks: dict[str, SdkSig]
    #: where each entry was loaded from, keyed ``identifiers/<id>`` or ``sdks/<id>``
    origins: dict[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class YamlDocument:
    """Parsed YAML plus its node tree, kept so errors can be mapped to lines."""

    path: Path
    data: Any
    node: yaml.Node | None

    def line(self, loc: Loc) -> int:
        return locate_line(self.node, loc)

    def problem(self, loc: Loc, message: str) -> str:
        where = format_loc(loc)
        prefix = f"{display_path(self.path)}:{self.line(loc)}"
        return f"{prefix}: {where}: {message}" if where else f"{prefix}: {message}"


# --------------------------------------------------------------------------- YAML


def read_yaml(path: Path) -> YamlDocument:
    """Parse one file with the safe loader, rejecting duplicate mapping keys.

    PyYAML keeps the last of two equal keys without a word, which would let a
    copy-pasted block silently replace an earlier one.
    """
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SignatureError([f"{display_path(path)}: cannot read: {exc}"]) from exc
    _check_depth(path, text)
    loader = _safe_loader()(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            duplicates = list(_duplicate_keys(node))
            if duplicates:
                raise SignatureError(
                    [
                        f"{display_path(path)}:{line}: duplicate key {key!r}"
                        for key, line in duplicates
                    ]
                )
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        reason = exc.problem or exc.context or "invalid YAML"
        raise SignatureError([f"{display_path(path)}:{line}: invalid YAML: {reason}"]) from exc
    except yaml.YAMLError as exc:
        raise SignatureError([f"{display_path(path)}: invalid YAML: {exc}"]) from exc
    finally:
        loader.dispose()
    return YamlDocument(path=path, data=data, node=node)


def _check_depth(path: Path, text: str) -> None:
    """Refuse nesting deeper than MAX_YAML_DEPTH before composing a node tree.

    libyaml composes nodes recursively in C: a file of a few hundred thousand
    ``[`` overflows the C stack and kills the process. Parser events come
    without recursion, so counting them first is safe.
    """
    import yaml

    loader = _safe_loader()(text)
    depth = 0
    try:
        while (event := loader.get_event()) is not None:  # type: ignore[no-untyped-call]
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    line = event.start_mark.line + 1 if event.start_mark else 0
                    raise SignatureError(
                        [f"{display_path(path)}:{line}: nested deeper than {MAX_YAML_DEPTH} levels"]
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.MarkedYAMLError as exc:
        # libyaml 0.2.6 refuses 1000 open brackets itself, while scanning ahead of
        # the events counted above: the same problem, reported the same way.
        if exc.problem and "nesting depth" in exc.problem:
            line = exc.problem_mark.line + 1 if exc.problem_mark else 0
            raise SignatureError(
                [f"{display_path(path)}:{line}: nested deeper than {MAX_YAML_DEPTH} levels"]
            ) from exc
        # Anything else: composing reports it, with its line.
    except yaml.YAMLError:
        pass  # composing reports it, with its line
    finally:
        loader.dispose()


def _duplicate_keys(root: yaml.Node) -> Iterator[tuple[str, int]]:
    """Walk each node once: aliases share nodes, and a billion-laughs file must stay linear."""
    import yaml

    visited: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in visited:
            continue
        visited.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, _value in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    if key_node.value in seen:
                        yield key_node.value, key_node.start_mark.line + 1
                    seen.add(key_node.value)
            stack.extend(value for _key, value in reversed(node.value))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))


def locate_line(node: yaml.Node | None, loc: Loc) -> int:
    """1-based line of the deepest node on ``loc`` that exists.

    A missing field points at the mapping that should have held it.
    """
    import yaml

    if node is None:
        return 1
    current = node
    for part in loc:
        nxt: yaml.Node | None = None
        if isinstance(current, yaml.MappingNode):
            for key_node, value_node in current.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                    nxt = value_node
                    break
        elif (
            isinstance(current, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(current.value)
        ):
            nxt = current.value[part]
        if nxt is None:
            break
        current = nxt
    return current.start_mark.line + 1


def format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def validate_document(model: type[_M], doc: YamlDocument) -> tuple[_M | None, list[str]]:
    """Validate a parsed document, turning pydantic errors into located messages."""
    from pydantic import ValidationError

    if not isinstance(doc.data, dict):
        return None, [doc.problem((), "expected a mapping at the top level")]
    try:
        return model.model_validate(doc.data), []
    except ValidationError as exc:
        return None, [doc.problem(loc, msg) for loc, msg in error_messages(exc)]


def error_messages(exc: ValidationError) -> list[tuple[Loc, str]]:
    """Each of pydantic's errors as (field path, message in lower case)."""
    out = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if isinstance(p, int | str))
        msg = str(err["msg"])
        msg = msg[:1].lower() + msg[1:]
        # Model-level checks carry no field; keep the message as it is.
        out.append((loc, msg.removeprefix("value error, ")))
    return out


# --------------------------------------------------------------------------- discovery


def default_signature_dirs() -> list[Path]:
    """The bundled ``signatures/``, then each directory in ``$LEAKTRACE_SIGNATURES``.

    The variable holds os.pathsep-separated directories; they add to or
    override bundled entries by id, in order, like ``--signatures``.
    """
    env = os.environ.get(ENV_VAR, "").strip()
    from_env = [Path(part) for part in env.split(os.pathsep) if part]
    bundled = _repo_signatures_dir()
    if bundled is None and not from_env:
        raise SignatureError(
            [f"no signatures directory found: set {ENV_VAR} or pass the directories explicitly"]
        )
    return _unique([*([bundled] if bundled is not None else []), *from_env])


def with_user_dirs(extra: Sequence[Path] | None) -> list[Path]:
    """Default directories followed by the user's, in the order loading applies them.

    Precedence, lowest first: bundled, ``$LEAKTRACE_SIGNATURES``, then each
    ``--signatures`` directory. A later entry replaces an earlier one of the
    same id.
    """
    return _unique([*default_signature_dirs(), *(extra or ())])


def _unique(dirs: Sequence[Path]) -> list[Path]:
    """Keep the last mention of a directory: that is where its precedence was asked for."""
    seen: set[Path] = set()
    out: list[Path] = []
    for path in reversed(dirs):
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            out.append(path)
    return out[::-1]


def _repo_signatures_dir() -> Path | None:
    import leaktrace

    start = Path(leaktrace.__file__).resolve().parent
    for parent in (start, *start.parents):
        candidate = parent / "signatures"
        if (parent / "pyproject.toml").is_file() and candidate.is_dir():
            return candidate
    return None


# --------------------------------------------------------------------------- loading


def load_signatures(dirs: Sequence[Path] | None = None) -> SignatureSet:
    """Load ``identifiers/*.yaml`` and ``sdks/*.yaml`` from each directory in order.

    A later directory replaces entries of an earlier one that have the same id,
    so a user directory can override or extend the bundled set.

    A set loaded before from exactly the same files comes from the per-user
    cache (``leaktrace.cache``): parsing and validating a few hundred files
    costs more than reading a small capture.
    """
    roots = list(dirs) if dirs is not None else default_signature_dirs()
    key = _cache_key(roots)
    if key is not None:
        cached = state_cache.load_object(_SET_CACHE_KIND, key, SignatureSet)
        if cached is not None:
            return cached
    loaded = _load_uncached(roots)
    # Files edited while they were being read must not be stored under the old key.
    if key is not None and _cache_key(roots) == key:
        state_cache.store_object(_SET_CACHE_KIND, key, loaded)
    return loaded


def _load_uncached(roots: Sequence[Path]) -> SignatureSet:
    # Validation is the one step that needs pydantic: a cached set never imports it.
    from leaktrace.signatures import schema

    problems: list[str] = []
    identifiers: dict[str, tuple[IdentifierSig, YamlDocument]] = {}
    sdks: dict[str, tuple[SdkSig, YamlDocument]] = {}
    for root in roots:
        if not root.is_dir():
            problems.append(f"{display_path(root)}: not a directory")
            continue
        for doc in _documents(root / "identifiers", problems):
            ident, errs = validate_document(schema.IdentifierSig, doc)
            problems.extend(errs)
            if ident is not None and _id_matches_file(ident.id, doc, problems):
                identifiers[ident.id] = (schema.to_model(ident), doc)
        for doc in _documents(root / "sdks", problems):
            sdk, errs = validate_document(schema.SdkSig, doc)
            problems.extend(errs)
            if sdk is not None and _id_matches_file(sdk.id, doc, problems):
                sdks[sdk.id] = (schema.to_model(sdk), doc)

    problems.extend(_duplicate_endpoints(sdks.values()))
    problems.extend(_unknown_collects(sdks.values(), identifiers.keys()))
    problems.extend(_hyperscan_problems(identifiers.values()))
    if problems:
        raise SignatureError(problems)
    origins = {f"identifiers/{k}": d.path for k, (_, d) in identifiers.items()}
    origins.update({f"sdks/{k}": d.path for k, (_, d) in sdks.items()})
    return SignatureSet(
        identifiers={k: v for k, (v, _) in sorted(identifiers.items())},
        sdks={k: v for k, (v, _) in sorted(sdks.items())},
        origins=origins,
    )


_SET_CACHE_KIND = "signature-set"
_SET_CACHE_FORMAT = "2"  # 2: plain ``model`` records instead of pydantic models


def _cache_key(roots: Sequence[Path]) -> str | None:
    """A digest of every file loading would read and of the code and versions that
    shape the result; None when the set is not cacheable (a missing root or an
    unreadable file: loading reports those).

    A signature file counts by its name and status (``cache.file_stamp``), not its
    bytes: reading and hashing the bundled files took 10 ms of every start.
    """
    from leaktrace import __version__
    from leaktrace.detectors.engine import hyperscan_version

    parts: list[bytes | str] = [
        _SET_CACHE_KIND,
        _SET_CACHE_FORMAT,
        __version__,
        sys.version,
        hyperscan_version() or "no-hyperscan",
    ]
    here = Path(__file__)
    now = time.time_ns()
    try:
        # What validation accepts and how it is kept; the entry holds no pydantic object.
        for source in (here, here.with_name("schema.py"), here.with_name("model.py")):
            parts.append(state_cache.file_digest(source))
        for root in roots:
            if not root.is_dir():
                return None
            parts += ["root", str(root), os.path.abspath(root)]
            for sub in ("identifiers", "sdks"):
                folder = root / sub
                parts.append(f"{sub}:{folder.is_dir()}")
                if not folder.is_dir():
                    continue
                for path in sorted(folder.glob("*.yaml")):
                    parts += [path.name, *state_cache.file_stamp(path, now)]
    except OSError:
        return None
    return state_cache.make_key(*parts)


def _documents(folder: Path, problems: list[str]) -> Iterator[YamlDocument]:
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.yaml")):
        try:
            yield read_yaml(path)
        except SignatureError as exc:
            problems.extend(exc.problems)


def _id_matches_file(ident: str, doc: YamlDocument, problems: list[str]) -> bool:
    if doc.path.stem != ident:
        problems.append(doc.problem(("id",), f"id {ident!r} does not match the file name"))
        return False
    return True


def endpoint_key(endpoint: Endpoint) -> tuple[str | None, ...]:
    """What makes two endpoint rules indistinguishable to the matcher."""
    header = endpoint.header
    return (
        endpoint.domain,
        endpoint.host,
        endpoint.host_regex,
        endpoint.path,
        endpoint.query,
        header.name.lower() if header else None,
        header.value if header else None,
    )


def _describe(endpoint: Endpoint) -> str:
    parts = [
        f"{name} {value!r}"
        for name, value in (
            ("domain", endpoint.domain),
            ("host", endpoint.host),
            ("host_regex", endpoint.host_regex),
            ("path", endpoint.path),
            ("query", endpoint.query),
        )
        if value is not None
    ]
    if endpoint.header is not None:
        parts.append(f"header {endpoint.header.name!r}")
    return " ".join(parts)


def _duplicate_endpoints(sdks: Iterable[tuple[SdkSig, YamlDocument]]) -> Iterator[str]:
    owner: dict[tuple[str | None, ...], str] = {}
    for sdk, doc in sdks:
        for index, endpoint in enumerate(sdk.endpoints):
            key = endpoint_key(endpoint)
            if key in owner:
                yield doc.problem(
                    ("endpoints", index),
                    f"duplicate rule {_describe(endpoint)}: already used by sdk {owner[key]!r}",
                )
            else:
                owner[key] = sdk.id


def _unknown_collects(
    sdks: Iterable[tuple[SdkSig, YamlDocument]], known: Iterable[str]
) -> Iterator[str]:
    known_ids = set(known)
    for sdk, doc in sdks:
        for index, ident in enumerate(sdk.collects):
            if ident not in known_ids:
                yield doc.problem(("collects", index), f"unknown identifier type {ident!r}")


def _hyperscan_problems(identifiers: Iterable[tuple[IdentifierSig, YamlDocument]]) -> Iterator[str]:
    """Every pattern must also compile as a hyperscan prefilter, or the scanner cannot start.

    Checked one pattern at a time: that is what names the culprit, and it is
    faster than one combined compile.
    """
    from leaktrace.detectors.engine import hyperscan_error

    # Types that share a shape (oaid, vaid, aaid) share the regex: compile it once.
    seen: dict[tuple[str, bool], str | None] = {}
    for ident, doc in identifiers:
        for index, pattern in enumerate(ident.patterns):
            key = (pattern.regex, pattern.caseless)
            if key not in seen:
                seen[key] = hyperscan_error(pattern.regex.encode("ascii"), caseless=key[1])
            error = seen[key]
            if error is not None:
                yield doc.problem(
                    ("patterns", index, "regex"), f"does not compile in hyperscan: {error}"
                )
