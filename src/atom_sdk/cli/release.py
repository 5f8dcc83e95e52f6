"""``atom release``: gates, evidence, release packet, verification, keys and surface snapshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from atom_sdk.cli.common import console, err_console, print_json

app = typer.Typer(help="Release tooling: gates G-01..G-10, evidence, packets, signatures, SemVer snapshot.",
                  no_args_is_help=True)

_PROFILE = typer.Option("dev", "--profile", help="dev | rc | release (a skipped gate fails under release).")
_ADVISORIES = typer.Option(None, "--advisories", help="OSV advisory snapshot (atom release advisories fetch) "
                           "for offline auditing of the runtime dependencies.")
_ABLATION = typer.Option(Path("benchmark_results/platform_ablations"), "--ablation-dir",
                         help="Folder of the platform ablation sweep (G-07, G-10).")
_ALLOW_MISSING = typer.Option(False, "--allow-missing",
                              help="Report missing inputs as skips (development only; refused by G-08 in release).")
_RERUN = typer.Option(False, "--rerun", help="Re-produce G-04..G-06 evidence even when it is fresh.")


def _context(profile: str, advisories: Path | None, ablation_dir: Path, allow_missing: bool, rerun: bool,
             root: Path | None = None):
    from atom_sdk.release.gates import GateContext

    return GateContext(root=root or Path.cwd(), profile=profile, advisories=advisories,
                       ablation_dir=ablation_dir, allow_missing=allow_missing, rerun=rerun)


class _Display:
    """A rich spinner for the running gate and one line per finished gate."""

    def __init__(self, total: int, console_) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.console = console_
        self.progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), console=console_, transient=True)
        self.task = self.progress.add_task("gates", total=total)

    def __enter__(self) -> _Display:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def start(self, g) -> None:
        self.progress.update(self.task, description=f"{g.id} {g.name}")

    def done(self, g, r) -> None:
        colour = {"pass": "green", "fail": "red", "skip": "yellow"}[r.status]
        self.progress.console.print(f"[{colour}]{r.status.upper():4}[/] {r.id} {r.name} ({r.duration_s:.1f}s): "
                                    f"{r.reason}", highlight=False, markup=True, soft_wrap=True)
        self.progress.advance(self.task)


def _run_shown(run: Any, only: list[str] | None, console_, ctx):
    """``run(ctx, only, on_start=..., on_done=...)`` with a live line per gate; returns (ctx, its result)."""
    from atom_sdk.release.catalogue import get_gates

    with _Display(len(get_gates(only)), console_) as display:
        return ctx, run(ctx, only, on_start=display.start, on_done=display.done)


def _table(results, profile: str) -> None:
    from rich.table import Table

    from atom_sdk.release.gates import gate_ok

    table = Table(title=f"Release gates (profile {profile})")
    for col in ("Gate", "Name", "Status", "s", "Reason"):
        table.add_column(col, overflow="fold")
    for r in results:
        style = "green" if gate_ok(r.status, profile) else "red"
        table.add_row(r.id, r.name, f"[{style}]{r.status}[/]", f"{r.duration_s:.1f}", r.reason)
    console.print(table)


advisories_app = typer.Typer(help="OSV advisory snapshots for offline G-02 runs.", no_args_is_help=True)
app.add_typer(advisories_app, name="advisories")


@advisories_app.command("list")
def advisories_list_command(
    out: Path = typer.Option(Path("security/runtime_dependencies.json"), "--out", help="Where the list is written."),
) -> None:
    """Write the SDK's runtime dependencies at their installed versions (to fetch for on a connected machine)."""
    from atom_sdk.artifacts import write_json
    from atom_sdk.release.advisories import RUNTIME_LIST, runtime_closure
    from atom_sdk.workspace import output_file

    output_file(out, "--out", RUNTIME_LIST)
    packages = runtime_closure()
    write_json(out, packages)
    console.print(f"wrote {out}: {len(packages)} runtime distributions", highlight=False)


@advisories_app.command("fetch")
def advisories_fetch_command(
    out: Path = typer.Option(Path("security/osv_snapshot.json"), "--out", help="Where the snapshot is written."),
    packages: Path = typer.Option(None, "--packages", help="JSON {name: version} from `atom release advisories "
                                  "list` on the release machine (default: this environment's runtime closure)."),
) -> None:
    """Query the OSV service for every runtime dependency at its installed version (needs the network)."""
    from atom_sdk.artifacts import read_json
    from atom_sdk.release.advisories import SNAPSHOT_REPORT, fetch_snapshot
    from atom_sdk.workspace import output_file

    output_file(out, "--out", SNAPSHOT_REPORT)
    snap = fetch_snapshot(out, read_json(packages) if packages else None)
    hits = sum(len(p["vulns"]) for p in snap["packages"])
    console.print(f"wrote {out}: {len(snap['packages'])} runtime distributions, {hits} advisories, fetched "
                  f"{snap['fetched_at']}", highlight=False)


@app.command("gates")
def gates_command(
    only: list[str] = typer.Option(None, "--only", help="Run only these gate ids (repeat or comma-separate)."),
    profile: str = _PROFILE,
    as_json: bool = typer.Option(False, "--json", help="Print the gate records as JSON."),
    advisories: Path = _ADVISORIES,
    ablation_dir: Path = _ABLATION,
    allow_missing: bool = _ALLOW_MISSING,
    rerun: bool = _RERUN,
) -> None:
    """Run the release gates; exit 1 when any gate fails under the profile."""
    from atom_sdk.release.catalogue import run_gates
    from atom_sdk.release.gates import gate_ok

    _, results = _run_shown(run_gates, only, err_console if as_json else console,
                            _context(profile, advisories, ablation_dir, allow_missing, rerun))
    if as_json:
        print_json([r.to_dict() for r in results])
    else:
        _table(results, profile)
    failed = [r.id for r in results if not gate_ok(r.status, profile)]
    if failed:
        err_console.print(f"[bold red]failed under {profile}:[/] {', '.join(failed)}", highlight=False)
        raise typer.Exit(1)


@app.command("evidence")
def evidence_command(
    profile: str = _PROFILE,
    check: bool = typer.Option(False, "--check", help="Exit 1 when any gate fails, naming it."),
    output_json: Path = typer.Option(Path("validation_outputs/release_evidence.json"), "--output-json"),
    output_md: Path = typer.Option(Path("validation_outputs/release_evidence.md"), "--output-md"),
    only: list[str] = typer.Option(None, "--only", help="Only these gates (the result is then not a release)."),
    advisories: Path = _ADVISORIES,
    ablation_dir: Path = _ABLATION,
    allow_missing: bool = _ALLOW_MISSING,
    rerun: bool = _RERUN,
) -> None:
    """Run or collect every gate and write the evidence JSON (schema-versioned) and Markdown report."""
    from atom_sdk.release.evidence_document import EVIDENCE_JSON, EVIDENCE_MARKDOWN, write_evidence
    from atom_sdk.release.synthesis import generate_evidence
    from atom_sdk.workspace import output_file

    # refused before any gate runs: neither file may replace something that is not release evidence
    output_file(output_json, "--output-json", EVIDENCE_JSON)
    output_file(output_md, "--output-md", EVIDENCE_MARKDOWN)
    ctx, doc = _run_shown(generate_evidence, only, console,
                          _context(profile, advisories, ablation_dir, allow_missing, rerun))
    write_evidence(doc, output_json, output_md, ctx.root)
    console.print(f"wrote {output_json} and {output_md}; overall "
                  f"{'[green]PASS[/]' if doc['overall_pass'] else '[red]FAIL[/]'} under {profile}", highlight=False)
    if check and not doc["overall_pass"]:
        err_console.print(f"[bold red]failed gates:[/] " + "; ".join(
            f"{g['id']} {g['name']}: {g['reason']}" for g in doc["gates"] if g["id"] in doc["failed_gates"]),
            highlight=False, soft_wrap=True)
        raise typer.Exit(1)


@app.command("packet")
def packet_command(
    ablation_dir: Path = _ABLATION,
    release_evidence_json: Path = typer.Option(Path("validation_outputs/release_evidence.json"),
                                               "--release-evidence-json"),
    release_evidence_md: Path = typer.Option(Path("validation_outputs/release_evidence.md"), "--release-evidence-md"),
    output_dir: Path = typer.Option(..., "--output-dir", help="Packet folder, e.g. release_packets/v1.0.0."),
    profile: str = typer.Option("release", "--profile", help="Profile the evidence must pass under."),
    signing_key: Path = typer.Option(None, "--signing-key", help="Ed25519 private key (atom release keygen); "
                                     "default $ATOM_RELEASE_SIGNING_KEY, then ~/.atom-release-keys/"
                                     "release_signing_key.pem. Required under --profile release."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing packet folder."),
) -> None:
    """Assemble and sign a release packet; refuses unless the evidence, re-derived from its inputs, passes."""
    import re

    from atom_sdk import __version__
    from atom_sdk.release.packet import build_packet

    named = re.fullmatch(r"v?(\d+\.\d+\.\d+\S*)", output_dir.name)
    if named and named.group(1) != __version__:  # the runbook's example folder is v1.0.0
        err_console.print(f"[yellow]warning:[/] {output_dir} names version {named.group(1)}, but this SDK is "
                          f"{__version__}; the packet (and its wheel) will be {__version__}", highlight=False)
    with console.status("building release packet (wheel, sdist, SBOM, provenance)"):
        info = build_packet(Path.cwd(), ablation_dir=ablation_dir, evidence_json=release_evidence_json,
                            evidence_md=release_evidence_md, output_dir=output_dir, profile=profile,
                            signing_key=signing_key, overwrite=overwrite)
    console.print(f"packet {info['output_dir']}: {info['files']} files, commit {info['commit']}, "
                  f"{'signed with ' + info['key_source'] if info['signed'] else 'unsigned'}; "
                  f"{len(info['rederived'])} verdicts re-derived from the inputs", highlight=False)


@app.command("verify")
def verify_command(
    packet: Path = typer.Argument(..., help="Release packet folder."),
    public_key: Path = typer.Option(None, "--public-key", help="Pin the signer's public key (PEM); default "
                                    "$ATOM_RELEASE_PUBLIC_KEY, else the key inside the packet (not pinned)."),
    require_signature: bool = typer.Option(False, "--require-signature", help="Fail an unsigned packet."),
    profile: str = typer.Option(None, "--profile", help="dev | rc | release; default: the profile of the packet's "
                                "evidence. Under release an unsigned packet fails."),
    recompute: bool = typer.Option(False, "--recompute", help="Re-derive every recomputable verdict from the "
                                   "packet's own inputs, ablation folder and wheel."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Check every hash, the provenance statement and the signature; exit 1 naming each problem."""
    from atom_sdk.release.verify import verify_packet

    report = verify_packet(packet, public_key=public_key, require_signature=require_signature, profile=profile,
                           recompute=recompute)
    if as_json:
        print_json(report)
    elif report["ok"]:
        console.print(f"[green]OK[/] {packet}: {report['files']} files verified"
                      + (f", signature valid ({report['key']})" if report["signed"] else ", unsigned")
                      + (f", {len(report['rederived'])} verdicts re-derived" if recompute else ""), highlight=False)
    else:
        for p in report["problems"]:
            err_console.print(f"[red]FAIL[/] {p}", highlight=False)
    if not report["ok"]:
        raise typer.Exit(1)


@app.command("keygen")
def keygen_command(
    out: Path = typer.Option(None, "--out", help="Folder for the key pair; default $ATOM_RELEASE_KEY_DIR or "
                             "~/.atom-release-keys (outside any checkout)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing key pair."),
) -> None:
    """Create an Ed25519 signing key pair (private key written with mode 0600)."""
    from atom_sdk.release.signing import inside_git_checkout, keygen

    private, public = keygen(out, overwrite=overwrite)
    console.print(f"private key {private} (keep it secret), public key {public}", highlight=False)
    if inside_git_checkout(private.parent):
        err_console.print(f"[yellow]warning:[/] {private.parent} is inside a git checkout; keep the private key "
                          "out of the repository", highlight=False)


@app.command("snapshot")
def snapshot_command(
    out_dir: Path = typer.Option(Path("release"), "--out-dir", help="Where surface_snapshot.json and "
                                 "baseline_evidence.json are written."),
    ablation_dir: Path = _ABLATION,
    surface_only: bool = typer.Option(False, "--surface-only", help="Write only the CLI/OpenAPI surface."),
) -> None:
    """Record the CLI/OpenAPI surface and the evidence metrics as the baseline for the next release (G-10).

    The metrics come from the evidence run in validation_outputs/release_evidence.json: only the
    files it read or wrote, unchanged since (checked by SHA-256), at the commit it names.
    """
    from atom_sdk.artifacts import write_json
    from atom_sdk.release.gate_regression import BASELINE_REPORT, baseline_from_evidence
    from atom_sdk.release.semver import SNAPSHOT_REPORT, write_snapshot
    from atom_sdk.workspace import output_file

    output_file(out_dir / "surface_snapshot.json", "--out-dir's surface_snapshot.json", SNAPSHOT_REPORT)
    if not surface_only:
        output_file(out_dir / "baseline_evidence.json", "--out-dir's baseline_evidence.json", BASELINE_REPORT)
    baseline = None
    if not surface_only:  # checked before anything is written, so a refusal leaves both files as they were
        ctx = _context("dev", None, ablation_dir, False, False)
        baseline = baseline_from_evidence(ctx, ctx.evidence_json)
    surface = write_snapshot(out_dir / "surface_snapshot.json")
    console.print(f"wrote {surface}", highlight=False)
    if baseline is not None:
        path = write_json(out_dir / "baseline_evidence.json", baseline)
        ev = baseline["evidence"]
        console.print(f"wrote {path} ({len(baseline['metrics'])} metrics from {', '.join(baseline['sources'])}; "
                      f"evidence {ev['path']} at {str(baseline['git_commit'])[:12]}, profile {ev['profile']})",
                      highlight=False)
        if not ev["overall_pass"]:
            err_console.print(f"[yellow]warning:[/] that evidence did not pass (failed gates: "
                              f"{', '.join(ev['failed_gates'])}); the baseline records this", highlight=False)


@app.command("prepare")
def prepare_command(
    version: str = typer.Argument(..., help="The new version, MAJOR.MINOR.PATCH."),
    today: str = typer.Option(None, "--date", help="Date of the CHANGELOG heading (default: today)."),
) -> None:
    """Set the version, open its CHANGELOG section, re-export docs/openapi.json and docs/cli_surface.json.

    First prints the SemVer decision that the CLI/OpenAPI surface diff against the last release
    (release/surface_snapshot.json) forces, and changes nothing when the version does not satisfy it.
    """
    from atom_sdk.errors import ValidationFailedError
    from atom_sdk.release.prepare import prepare, semver_decision
    from atom_sdk.release.semver import current_surface

    root = Path.cwd()
    try:
        info = prepare(root, version, today=today)
    except ValidationFailedError:
        from atom_sdk.artifacts import read_json

        d = semver_decision(read_json(root / "release" / "surface_snapshot.json"), current_surface(), version)
        _print_decision(d)
        raise
    _print_decision(info["decision"])
    console.print(f"version {info['old_version']} -> {info['version']} ({'src/atom_sdk/__init__.py'}); "
                  f"{info['changelog']}; re-exported {', '.join(info['exported']) or 'nothing'}", highlight=False)


def _print_decision(d) -> None:
    console.print(f"SemVer: since {d['from']}: {len(d['removed'])} removed, {len(d['changed'])} changed, "
                  f"{len(d['added'])} added -> a [bold]{d['required'].upper()}[/] bump is required; {d['detail']}",
                  highlight=False)
    for label in ("removed", "changed", "added"):
        for item in d[label][:5]:
            console.print(f"  {label}: {item}", highlight=False, soft_wrap=True)


@app.command("gate-table")
def gate_table_command(
    write: bool = typer.Option(False, "--write", help="Rewrite the generated table in docs/SDK_RELEASE.md."),
    doc: Path = typer.Option(Path("docs/SDK_RELEASE.md"), "--doc", help="Document holding the table markers."),
) -> None:
    """Print the current gate table (or write it into the docs between the markers)."""
    from atom_sdk.release.catalogue import gate_table
    from atom_sdk.release.gate_docs import write_gate_table

    if write:
        changed = write_gate_table(doc, gate_table())
        console.print(f"{doc}: {'updated' if changed else 'already current'}", highlight=False)
    else:
        typer.echo(gate_table())
