"""``atom bench``: performance and evidence benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from atom_sdk.cli.common import console, print_json

app = typer.Typer(help="Benchmarks: world throughput, scientific integrity, reliability.", no_args_is_help=True)


@app.command("worlds")
def bench_worlds(
    size: int = typer.Option(512, "--size", help="Side of the periodic D2Q9 box."),
    steps: int = typer.Option(100, "--steps", help="LBM steps timed per D2Q9 case."),
    size3d: int = typer.Option(64, "--size3d", help="Side of the periodic D3Q19 box (0 skips D3Q19)."),
    rounds: int = typer.Option(3, "--rounds", help="Interleaved timing rounds (best of)."),
    numpy_steps: int = typer.Option(5, "--numpy-steps", help="NumPy D2Q9 steps timed (0 skips NumPy)."),
    sharded: bool = typer.Option(False, "--sharded", help="Add strong scaling over 1, 2, 4 forced CPU devices."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    output: Optional[Path] = typer.Option(None, "--output", help="Also write the report to this JSON file."),
) -> None:
    """LBM MLUPS (reference, fused, NumPy) as a share of the measured copy bound; wedge cell updates/s."""
    from atom_sdk.artifacts import write_json
    from atom_sdk.errors import ConfigError
    from atom_sdk.provenance import provenance
    from atom_sdk.worlds.bench import WORLDS_BENCH_REPORT, run_lbm_benchmarks
    from atom_sdk.worlds.euler import run_wedge_benchmark
    from atom_sdk.workspace import output_file

    if size < 4 or steps < 1 or rounds < 1 or size3d < 0 or numpy_steps < 0:
        raise ConfigError(f"--size must be >= 4, --steps and --rounds >= 1, --size3d and --numpy-steps >= 0 "
                          f"(got {size}, {steps}, {rounds}, {size3d}, {numpy_steps})")
    if output is not None:
        output_file(output, "--output", WORLDS_BENCH_REPORT)
    with console.status("timing the lattice-Boltzmann and wedge solvers (a few minutes)"):
        lbm_report = run_lbm_benchmarks(size=size, steps=steps, rounds=rounds, size3d=size3d, numpy_steps=numpy_steps,
                                        sharded_devices=(1, 2, 4) if sharded else ())
        report = {"lbm": lbm_report, "wedge": run_wedge_benchmark(), "provenance": provenance()}
    if output is not None:
        write_json(output, report)
    if as_json:
        print_json(report)
        return
    _print_worlds(report)


def _print_worlds(report: dict) -> None:
    from rich.table import Table

    lbm = report["lbm"]
    for lattice in ("d2q9", "d3q19"):
        if lattice not in lbm:
            continue
        part = lbm[lattice]
        bound = part["copy_bound"]
        table = Table(title=f"{lattice.upper()} periodic {'x'.join(map(str, part['shape'][1:]))} float32: copy bound "
                            f"{bound['bytes_per_second'] / 1e9:.1f} GB/s ({bound['array_bytes'] / 2**20:.1f} MiB, "
                            f"{bound['threads'] or 'device'} threads) / {part['bytes_per_update']} B = {part['bound_mlups']:.0f} MLUPS")
        for col in ("case", "updates per pass", "memory B per update", "MLUPS", "of copy bound",
                    "of copy per CPU-s", "x reference", "x NumPy"):
            table.add_column(col)
        for row in part["rows"]:
            moved = row.get("memory_bytes_per_update")
            table.add_row(row["case"], str(row.get("time_block", 1)), "-" if moved is None else f"{moved:g}",
                          f"{row['mlups']:.1f}", f"{row['fraction_of_copy_bound']:.0%}",
                          f"{row['fraction_of_copy_bound_cpu']:.0%}",
                          _ratio(row["vs_reference"]), _ratio(row["vs_numpy"]))
        console.print(table)
    dram = lbm["dram_copy"]
    console.print(f"DRAM copy (256 MiB, 1 thread): {dram['bytes_per_second'] / 1e9:.1f} GB/s")
    for row in lbm.get("channel", []):
        console.print(f"{row['case']}: {row['mlups']:.1f} MLUPS")
    for row in lbm.get("sharded", {}).get("rows", []):
        console.print(f"sharded {row['devices']} devices: {row['mlups']:.1f} MLUPS (speedup {row['speedup']:.2f})")
    goal = lbm["goal"]
    console.print(f"CPU goal (D2Q9): {goal['case']} at {goal['fraction_of_copy_bound']:.0%} of the copy bound "
                  f"(target {goal['target']:.0%}), {goal['fused_over_reference']:.2f}x the reference; per CPU-second "
                  f"{goal['case_per_cpu_second']} at {goal['fraction_of_copy_bound_per_cpu_second']:.0%}; "
                  f"load average {lbm['load_average']['before'][0]:.1f} -> {lbm['load_average']['after'][0]:.1f}")
    for lattice, part in lbm.get("gpu_goal", {}).get("lattices", {}).items():
        console.print(f"GPU goal {lattice} {'x'.join(map(str, part['shape'][1:]))}: {part['case']} at "
                      f"{part['fraction_of_copy_bound']:.0%} of the copy bound (target {lbm['gpu_goal']['target']:.0%}), "
                      f"{part['mlups']:.0f} MLUPS, {_ratio(part['fused_over_reference'])}x the reference")
    table = Table(title="wedge")
    for col in ("case", "value"):
        table.add_column(col)
    for key, value in _flatten(report["wedge"]):
        table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    console.print(table)


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _flatten(data: object, prefix: str = "") -> list[tuple[str, object]]:
    if isinstance(data, dict):
        rows: list[tuple[str, object]] = []
        for key, value in data.items():
            rows.extend(_flatten(value, f"{prefix}{key}."))
        return rows
    if isinstance(data, list):
        return [(prefix.rstrip("."), ", ".join(map(str, data)))]
    return [(prefix.rstrip("."), data)]



_EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}


def _parse(parser, args: list[str]):
    """argparse for the space-separated lists the commands take (``--seeds 0 1 2``)."""
    from atom_sdk.errors import ConfigError

    try:
        return parser.parse_args(args)
    except SystemExit as exc:  # argparse already printed what is wrong
        raise ConfigError(f"invalid options {' '.join(args)!r}; see --help") from exc


@app.command("integrity", context_settings=_EXTRA)
def bench_integrity(ctx: typer.Context) -> None:
    """Recover known laws (DHO, Van der Pol, Lorenz, Hopf, Taylor-Green world, 1D diffusion) vs PySINDy.

    Options: --seeds 0 1 2, --noise-levels 0.0 0.03 0.06 (sigma = level * std of each state),
    --samples 192, --systems NAME..., --force-sparse (library bagging + 60% inclusion on every
    system: the sparsest path of the scientist), --check (exit 1 when a threshold fails; failing
    (system, noise) cells are named), --output validation_outputs/scientific_integrity.json,
    --null-trials 60, --null-backends sparse [implicit sr] (the backends the null trial's scientist
    runs; its bound speaks only for fits that ran, counted per backend), --stability-seeds.
    """
    from atom_sdk.artifacts import write_json
    from atom_sdk.evidence.integrity import (REPORT_JSON, REPORT_MARKDOWN, integrity_arg_parser,
                                             run_integrity_benchmark)
    from atom_sdk.workspace import output_file

    a = _parse(integrity_arg_parser(), list(ctx.args))
    output_file(a.output, "--output", REPORT_JSON)  # refused before the benchmark runs, not after
    if a.markdown:
        output_file(a.markdown, "--markdown", REPORT_MARKDOWN)
    report = run_integrity_benchmark(seeds=a.seeds, noise_levels=a.noise_levels, samples=a.samples,
                                     systems=a.systems, force_sparse=a.force_sparse,
                                     null_trials=a.null_trials, stability_seeds=a.stability_seeds,
                                     null_backends=tuple(a.null_backends))
    write_json(a.output, report)
    if a.markdown:
        from pathlib import Path

        from atom_sdk.evidence.integrity import markdown_tables

        Path(a.markdown).write_text(markdown_tables(report), encoding="utf-8")
    _print_integrity(report, a.output)
    if a.check and not report["passed"]:
        raise typer.Exit(1)


def _print_integrity(report: dict, output: str) -> None:
    from rich.table import Table

    table = Table(title="scientific integrity: exact support recovery (ours vs PySINDy)")
    for col in ("system", "noise", "ours", "pysindy", "median err", "coverage"):
        table.add_column(col)
    for row in report["comparison"]:
        err = row["ours_median_error"]
        cov = row["ours_coverage"]
        table.add_row(row["system"], f"{row['noise']:g}", f"{row['ours_recovery']:.2f}", f"{row['pysindy_recovery']:.2f}",
                      "-" if err is None else f"{err:.3%}", "-" if cov is None else f"{cov:.3f}")
    console.print(table)
    for f in report["failing_cells"]:
        console.print(f"[red]FAIL[/] {f['system']} noise={f['noise']:g} {f['check']}: {f['value']} (limit {f['limit']})")
    null = report.get("null_trial")
    if null:
        t = Table(title=f"null trial: any law accepted on lawless data (upper bound: one-sided "
                        f"{null['confidence']:.0%} Clopper-Pearson)")
        for col in ("data", "trials", "accepted", "rate", "upper bound"):
            t.add_column(col)
        for name, r in [*null["per_kind"].items(), ("all", null)]:
            t.add_row(name, str(r["n_trials"]), str(r["n_accepted"]), f"{r['rate']:.3f}", f"{r['upper_bound']:.4f}")
        console.print(t)
        for name, c in (null.get("fits") or {}).items():  # the bound speaks only for fits that ran
            console.print(f"null-trial fits, {name}: {c['run']} of {c['attempted']} due ran, {c['declined']} declined"
                          + (f" ({c['decline_reasons'][0]})" if c.get("decline_reasons") else ""))
        if null["upper_bound"] > null["limit"] + 1e-12:
            console.print(f"[red]FAIL[/] null trial: false-discovery upper bound {null['upper_bound']:.4f} "
                          f"> {null['limit']:.2f}")
        elif not null["passed"]:
            console.print(f"[red]FAIL[/] null trial: a backend ran under {null.get('min_fits_run', 0.9):.0%} of its "
                          "fits; the bound speaks only for the fits that ran")
    stab = report.get("seed_stability")
    if stab:
        for f in stab["failing"]:
            console.print(f"[red]FAIL[/] seed stability {f['system']} noise={f['noise']:g}: {f['agreement']:.2f} of "
                          f"seeds agree with the modal support (limit {f['limit']:.2f})")
        console.print(f"seed stability: lowest agreement with the modal support {stab['agreement_min']:.2f} "
                      f"over {len(stab['rows'])} (system, noise)")
    console.print(f"{'PASSED' if report['passed'] else 'FAILED'}; report written to {output}")


@app.command("reliability", context_settings=_EXTRA)
def bench_reliability(ctx: typer.Context) -> None:
    """Short closed-loop runs on every world x variant: NaN, artifacts, schema, determinism, resume.

    Options: --worlds ID..., --variants NAME..., --steps 40, --output validation_outputs/reliability.json,
    --quick (Taylor-Green, v2_hybrid + ppo_baseline, 32 steps), --deep-all (determinism and resume
    on every variant instead of v2_hybrid and ppo_baseline). Exit 1 when a check fails.
    """
    from atom_sdk.artifacts import write_json
    from atom_sdk.evidence.reliability import (REPORT_JSON, reliability_arg_parser, resolve_cli_options,
                                               run_reliability_kernel)
    from atom_sdk.workspace import output_file

    a = _parse(reliability_arg_parser(), list(ctx.args))
    output_file(a.output, "--output", REPORT_JSON)

    def show(rec: dict) -> None:
        bad = [k for k, c in rec["checks"].items() if not c["passed"]]
        secs = rec["durations"].get("total_seconds", rec["durations"].get("run_seconds", 0.0))
        status = "[green]ok[/]" if rec["passed"] else f"[red]FAIL[/] {', '.join(bad)}"
        console.print(f"{rec['world']:<26} {rec['variant']:<13} {status} ({secs:.1f}s)")

    report = run_reliability_kernel(**resolve_cli_options(a), progress=show)
    write_json(a.output, report)
    console.print(f"{'PASSED' if report['passed'] else 'FAILED'} in {report['duration_seconds']:.0f}s; "
                  f"report written to {a.output}")
    if not report["passed"]:
        raise typer.Exit(1)


# Commands that parse their options with argparse name the parser factory, so the docs gate
# (G-09) can check documented command lines against the real parser.
bench_integrity.argparse_factory = "atom_sdk.evidence.integrity:integrity_arg_parser"  # type: ignore[attr-defined]
bench_reliability.argparse_factory = "atom_sdk.evidence.reliability:reliability_arg_parser"  # type: ignore[attr-defined]
