"""``leaktrace signatures …``: lint, list, show and match the catalogue; import Exodus exports.

Output only: loading, matching and conversion live in ``leaktrace.signatures``
and ``leaktrace.attribution``, so every answer here is the one analysis uses.

Exit codes: 0 fine; 1 ``lint`` (or the check after an import) found problems;
2 bad usage or an input file that cannot be used.
"""

# Annotations are not postponed, and names imported only for type checking are
# quoted: typer reads them at every start (why: the note at the top of cli.py).

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

# The catalogue, its schema and the output libraries load when a command runs,
# not when the ``leaktrace`` command starts.
if TYPE_CHECKING:
    from rich.console import Console

    from leaktrace.signatures.loader import SignatureSet
    from leaktrace.signatures.model import IdentifierSig, SdkSig

EXIT_PROBLEMS = 1
EXIT_USAGE = 2

signatures_app = typer.Typer(
    no_args_is_help=True,
    help="Check, browse and extend the identifier and SDK signature catalogue.",
)

SignatureDirs = Annotated[
    list[Path] | None,
    typer.Option(
        "--signatures", help="extra signature directory (repeatable; later ones override)"
    ),
]


def register(app: typer.Typer) -> None:
    app.add_typer(signatures_app, name="signatures")


def _out() -> "Console":
    from rich.console import Console

    console = Console(soft_wrap=True)
    if not console.is_terminal:
        console = Console(width=160, soft_wrap=True)
    return console


def _err() -> "Console":
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


def _load(extra: list[Path] | None) -> "SignatureSet":
    from leaktrace.signatures.loader import SignatureError, load_signatures, with_user_dirs

    try:
        return load_signatures(with_user_dirs(extra))
    except SignatureError as exc:
        for problem in exc.problems:
            _err().print(problem, highlight=False, markup=False)
        raise typer.Exit(EXIT_USAGE) from None


@signatures_app.command()
def lint(
    dirs: Annotated[
        list[Path] | None,
        typer.Argument(help="directories to check, layered on the bundled catalogue"),
    ] = None,
    alone: Annotated[
        bool, typer.Option(help="check the directories by themselves, without the bundled set")
    ] = False,
) -> None:
    """Check signature files: every problem as ``file:line: field: message``."""
    from leaktrace.signatures.loader import (
        SignatureError,
        display_path,
        load_signatures,
        with_user_dirs,
    )

    if alone and not dirs:
        _err().print("error: --alone needs at least one directory", highlight=False)
        raise typer.Exit(EXIT_USAGE)
    try:
        roots = list(dirs or ()) if alone else with_user_dirs(dirs)
        sigs = load_signatures(roots)
    except SignatureError as exc:
        for problem in exc.problems:
            typer.echo(problem)
        _err().print(f"{len(exc.problems)} problem(s)", highlight=False)
        raise typer.Exit(EXIT_PROBLEMS) from None
    checked = ", ".join(display_path(r) for r in roots)
    typer.echo(
        f"ok: {len(sigs.identifiers)} identifier types and {len(sigs.sdks)} SDKs ({checked})"
    )


@signatures_app.command("list")
def list_(
    category: Annotated[
        str | None, typer.Option(help="only SDKs of this category (ads, push, analytics, …)")
    ] = None,
    vendor_zh: Annotated[
        bool, typer.Option("--vendor-zh", help="only SDKs whose vendor has a Chinese name")
    ] = False,
    identifiers: Annotated[
        bool, typer.Option("--identifiers", help="list the identifier types instead")
    ] = False,
    signatures: SignatureDirs = None,
) -> None:
    """Table of SDKs (or identifier types) with a count line."""
    from rich.table import Table

    sigs = _load(signatures)
    console = _out()
    if identifiers:
        _list_identifiers(console, list(sigs.identifiers.values()), category)
        return
    sdks = [
        s
        for s in sigs.sdks.values()
        if (category is None or s.category == category) and (not vendor_zh or s.vendor.zh)
    ]
    table = Table("id", "name", "vendor", "category", "rules", "policy", box=None)
    for sdk in sdks:
        vendor = sdk.vendor.name + (f" ({sdk.vendor.zh})" if sdk.vendor.zh else "")
        table.add_row(
            sdk.id,
            sdk.name,
            vendor,
            sdk.category,
            str(len(sdk.endpoints)),
            "yes" if sdk.privacy_policy else "-",
        )
    console.print(table)
    categories = Counter(s.category for s in sdks)
    chinese = sum(1 for s in sdks if s.vendor.zh)
    console.print(
        f"{len(sdks)} SDKs in {len(categories)} categories, {chinese} with Chinese vendors",
        highlight=False,
    )


def _list_identifiers(
    console: "Console", idents: list["IdentifierSig"], category: str | None
) -> None:
    from rich.table import Table

    shown = [i for i in idents if category is None or i.category == category]
    table = Table("id", "en", "zh", "category", "sensitive", "patterns", box=None)
    for ident in shown:
        table.add_row(
            ident.id,
            ident.names.en,
            ident.names.zh or "",
            ident.category,
            "yes" if ident.sensitive else "no",
            str(len(ident.patterns)),
        )
    console.print(table)
    sensitive = sum(1 for i in shown if i.sensitive)
    console.print(
        f"{len(shown)} identifier types, {sensitive} sensitive (PIPL art. 28)", highlight=False
    )


@signatures_app.command()
def show(
    entry_id: Annotated[str, typer.Argument(metavar="ID", help="an SDK or identifier type id")],
    signatures: SignatureDirs = None,
) -> None:
    """Print an SDK or identifier entry as the YAML it was loaded from."""
    from leaktrace.signatures.loader import display_path

    sigs = _load(signatures)
    found: list[tuple[str, IdentifierSig | SdkSig]] = []
    if entry_id in sigs.sdks:
        found.append((f"sdks/{entry_id}", sigs.sdks[entry_id]))
    if entry_id in sigs.identifiers:
        found.append((f"identifiers/{entry_id}", sigs.identifiers[entry_id]))
    if not found:
        _err().print(f"error: no SDK or identifier type with id {entry_id!r}", highlight=False)
        raise typer.Exit(EXIT_USAGE)
    for key, _entry in found:
        origin = sigs.origins[key]
        typer.echo(f"# {display_path(origin)}")
        typer.echo(origin.read_text(encoding="utf-8").rstrip("\n"))


@signatures_app.command()
def match(
    host_or_url: Annotated[str, typer.Argument(metavar="HOST_OR_URL")],
    app_decl: Annotated[
        Path | None,
        typer.Option("--app", help="app.yaml whose first_party list decides the party"),
    ] = None,
    first_party: Annotated[
        list[str] | None,
        typer.Option("--first-party", help="a first-party domain (repeatable)"),
    ] = None,
    signatures: SignatureDirs = None,
) -> None:
    """Which SDK owns an endpoint, by which rule and on what evidence."""
    from leaktrace.attribution.explain import explain_match
    from leaktrace.declaration import DeclarationError, load_declaration
    from leaktrace.signatures.loader import display_path

    sigs = _load(signatures)
    domains = list(first_party or ())
    if app_decl is not None:
        try:
            domains += load_declaration(app_decl).first_party
        except DeclarationError as exc:
            _err().print(f"error: {exc}", highlight=False, markup=False)
            raise typer.Exit(EXIT_USAGE) from None
    result = explain_match(host_or_url, sigs, domains)
    att = result.attribution
    if result.host is None:
        _err().print(f"error: no host in {host_or_url!r}", highlight=False)
        raise typer.Exit(EXIT_USAGE)
    out = _out()

    def line(label: str, value: str) -> None:
        out.print(f"{label:<20}{value}", highlight=False, markup=False)

    line("host", result.host)
    if result.target:
        line("path", result.target)
    line(
        "registrable domain",
        att.registrable_domain or "- (an IP address, or no known public suffix)",
    )
    if att.sdk is not None:
        sdk = sigs.sdks[att.sdk]
        vendor = sdk.vendor.name + (f" ({sdk.vendor.zh})" if sdk.vendor.zh else "")
        line("sdk", f"{sdk.id}: {sdk.name} [{sdk.category}]")
        line("vendor", vendor)
        line("rule", att.basis)
        line("basis", result.source or "-")
        line("defined in", display_path(sigs.origins[f"sdks/{sdk.id}"]))
    else:
        line("sdk", "none: no signature claims this endpoint")
    # Rules for this host that were tried first and refused the request: the
    # usual case is a shared host whose path rule wants another path.
    for check in result.rules:
        if check.accepted:
            break
        if check.basis.startswith(("domain:", "host:", "host_regex:")):
            line("not matched", f"{check.sdk} {check.basis} (the request does not fit)")
    if domains:
        line("party", f"{att.party} (first_party: {', '.join(domains)})")
    entry = result.first_party_entry
    line(
        "app.yaml",
        f"first_party: [{entry}] would make this host first party; without it, it is a third party",
    )


@signatures_app.command("import-exodus")
def import_exodus(
    file: Annotated[Path, typer.Argument(help="Exodus Privacy tracker export (JSON)")],
    out: Annotated[
        Path, typer.Option(help="signature directory to write (entries go to OUT/sdks/)")
    ] = Path("exodus-signatures"),
    signatures: SignatureDirs = None,
) -> None:
    """Convert an Exodus tracker export into SDK signatures usable with ``--signatures``."""
    from leaktrace.signatures.exodus import ExodusError, convert, parse_export
    from leaktrace.signatures.loader import (
        SignatureError,
        display_path,
        load_signatures,
        with_user_dirs,
    )

    bundled = _load(signatures)
    try:
        trackers = parse_export(file.read_bytes())
    except OSError as exc:
        _err().print(f"error: {file}: cannot read: {exc}", highlight=False, markup=False)
        raise typer.Exit(EXIT_USAGE) from None
    except ExodusError as exc:
        _err().print(f"error: {file}: {exc}", highlight=False, markup=False)
        raise typer.Exit(EXIT_USAGE) from None
    result = convert(trackers, file.name, bundled)
    folder = out / "sdks"
    folder.mkdir(parents=True, exist_ok=True)
    for sdk in result.sdks:
        (folder / f"{sdk.id}.yaml").write_text(sdk.yaml, encoding="utf-8")
    console = _out()
    for item in result.skipped:
        console.print(f"skipped {item.tracker}: {item.reason}", highlight=False, markup=False)
    for item in result.notes:
        console.print(f"left out {item.tracker}: {item.reason}", highlight=False, markup=False)
    console.print(
        f"{len(result.sdks)} SDKs written to {display_path(folder)}, "
        f"{len(result.skipped)} trackers skipped, {len(result.notes)} rules left out",
        highlight=False,
    )
    try:
        load_signatures(with_user_dirs([*(signatures or ()), out]))
    except SignatureError as exc:
        for problem in exc.problems:
            typer.echo(problem)
        raise typer.Exit(EXIT_PROBLEMS) from None
