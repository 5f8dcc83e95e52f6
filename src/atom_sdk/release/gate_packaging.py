"""G-01 Packaging and CLI: build, check, install into a fresh venv, and drive the CLI there.

Why a fresh venv: an editable install hides packaging mistakes (a module or data file left
out of the wheel, an entry point that does not resolve). The fresh venv gets the project's
already-installed dependencies through a ``.pth`` line, so no network is needed, but the
SDK itself comes only from the wheel.
"""

from __future__ import annotations

import email.parser
import json
import os
import subprocess  # nosec B404 - fixed argv lists, no shell
import sys
import sysconfig
import tempfile
import venv
import zipfile
from pathlib import Path

from atom_sdk.errors import ArtifactError
from atom_sdk.release.gates import GateRecorder, gate

#: Packages that belong to optional extras and must never be base requirements.
EXTRA_ONLY = {"web": ("fastapi", "uvicorn", "sqlalchemy"), "distributed": ("ray",)}
PACKAGE_DATA = ("atom_sdk/release/schemas/release_evidence.schema.json",)
PUBLIC_API = ("make", "list_worlds", "register", "AtomError", "__version__")


def _run(argv: list[str], *, cwd: Path | None = None, timeout: float = 600,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,  # nosec B603
                          check=False, env=env)


def build_dists(root: Path, outdir: Path) -> tuple[Path, Path]:
    """Build sdist + wheel of ``root`` into ``outdir`` (no isolation: the build backend is installed)."""
    outdir.mkdir(parents=True, exist_ok=True)
    proc = _run([sys.executable, "-m", "build", "--sdist", "--wheel", "--no-isolation",
                 "--outdir", str(outdir), str(root)], cwd=root)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise ArtifactError("building sdist/wheel failed: " + " | ".join(tail),
                            hint="run `venv/bin/python -m build --no-isolation` to see the full log")
    wheels, sdists = sorted(outdir.glob("*.whl")), sorted(outdir.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        raise ArtifactError(f"expected one wheel and one sdist in {outdir}, found {len(wheels)} and {len(sdists)}")
    return wheels[0], sdists[0]


def wheel_metadata(wheel: Path) -> tuple[dict[str, list[str]], list[str]]:
    """(METADATA headers, file names) of a wheel."""
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        msg = email.parser.Parser().parsestr(zf.read(meta_name).decode("utf-8"))
    headers: dict[str, list[str]] = {}
    for key, value in msg.items():
        headers.setdefault(key, []).append(value)
    return headers, names


def split_requirements(requires_dist: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """Base requirement names and requirement names per extra, from ``Requires-Dist`` lines."""
    from packaging.markers import Marker
    from packaging.requirements import Requirement

    base: list[str] = []
    extras: dict[str, list[str]] = {}
    for line in requires_dist:
        req = Requirement(line)
        name = req.name.lower().replace("_", "-")
        if req.marker is None:
            base.append(name)
            continue
        found = [e for e in ("web", "distributed", "dev", "all") if Marker(str(req.marker)).evaluate({"extra": e})]
        if not found:
            base.append(name)  # a platform marker only: still a base requirement
        for e in found:
            extras.setdefault(e, []).append(name)
    return base, extras


def make_fresh_venv(where: Path) -> Path:
    """A venv without pip whose ``sys.path`` also sees this interpreter's site-packages (deps only)."""
    venv.EnvBuilder(with_pip=False, clear=True).create(where)
    py = where / "bin" / "python"
    purelib = _run([str(py), "-c", "import sysconfig;print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    Path(purelib, "_atom_release_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    return py


_PROBE = r"""
import json, sys, importlib, importlib.metadata as md
import typer
import atom_sdk
from atom_sdk.cli.main import app, main
from packaging.requirements import Requirement
report = {"file": atom_sdk.__file__, "version": atom_sdk.__version__, "api": {}, "help": {}, "deps": {}}
for name in json.loads(sys.argv[1]):
    try:
        report["api"][name] = getattr(atom_sdk, name) is not None
    except Exception as exc:
        report["api"][name] = repr(exc)
for line in json.loads(sys.argv[2]):
    req = Requirement(line)
    try:
        v = md.version(req.name)
        report["deps"][req.name] = v if req.specifier.contains(v, prereleases=True) else f"{v} not in {req.specifier}"
    except md.PackageNotFoundError:
        report["deps"][req.name] = None
root = typer.main.get_command(app)
def walk(cmd, path):
    yield path
    if isinstance(getattr(cmd, "commands", None), dict):
        for sub in sorted(cmd.commands):
            yield from walk(cmd.commands[sub], path + [sub])
for path in walk(root, []):
    try:
        main(path + ["--help"])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    report["help"][" ".join(["atom", *path])] = code
sys.stdout.flush()
print("@@REPORT@@" + json.dumps(report))
"""


@gate("G-01", "Packaging and CLI", "sdist+wheel build, `twine check`, fresh-venv install, `atom --version`, "
      "every `--help`, public API import, extras-only web/distributed deps", slow=True)
def gate_packaging(rec: GateRecorder) -> None:
    root = rec.ctx.root
    with tempfile.TemporaryDirectory(prefix="atom-g01-") as tmp:
        tmp_path = Path(tmp)
        try:
            wheel, sdist = build_dists(root, tmp_path / "dist")
        except ArtifactError as exc:
            rec.check("build", False, str(exc))
            return
        rec.check("build", True, f"{wheel.name}, {sdist.name}")
        rec.measure(wheel=wheel.name, sdist=sdist.name, wheel_bytes=wheel.stat().st_size,
                    sdist_bytes=sdist.stat().st_size)

        twine = _run([sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)])
        rec.check("twine check", twine.returncode == 0,
                  "PASSED" if twine.returncode == 0 else " ".join(twine.stdout.split())[-300:])

        headers, names = wheel_metadata(wheel)
        missing_data = [p for p in PACKAGE_DATA if p not in names]
        rec.check("package data", not missing_data, f"missing from wheel: {missing_data}" if missing_data
                  else f"{len(PACKAGE_DATA)} data file(s) present")
        requires = headers.get("Requires-Dist", [])
        base, extras = split_requirements(requires)
        leaked = sorted({p for pkgs in EXTRA_ONLY.values() for p in pkgs} & set(base))
        rec.measure(base_requirements=len(base), extras=sorted(extras))
        rec.check("extras-only deps", not leaked,
                  f"declared as base requirements: {leaked}" if leaked else "fastapi/uvicorn/sqlalchemy/ray only in extras")
        missing_extras = [f"{e}:{p}" for e, pkgs in EXTRA_ONLY.items() for p in pkgs if p not in extras.get(e, [])]
        rec.check("extras declared", not missing_extras, f"missing: {missing_extras}" if missing_extras else
                  "web and distributed extras declare their packages")

        py = make_fresh_venv(tmp_path / "venv")
        env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        install = _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps",
                        "--no-index", "--quiet", "--disable-pip-version-check", str(wheel)], env=env)
        if not rec.check("install wheel", install.returncode == 0, " ".join(install.stderr.split())[-300:]):
            return
        atom = tmp_path / "venv" / "bin" / "atom"
        version = _run([str(atom), "--version"], env=env, cwd=tmp_path)
        from atom_sdk import __version__

        rec.check("atom --version", version.returncode == 0 and __version__ in version.stdout,
                  version.stdout.strip() or version.stderr.strip()[-200:])
        base_lines = [r for r in requires if "extra ==" not in r]
        probe = _run([str(py), "-c", _PROBE, json.dumps(PUBLIC_API), json.dumps(base_lines)], env=env,
                     cwd=tmp_path)
        out = probe.stdout.rsplit("@@REPORT@@", 1)
        if probe.returncode != 0 or len(out) != 2:
            rec.check("CLI probe", False, (probe.stderr or probe.stdout).strip()[-300:])
            return
        report = json.loads(out[1])
        from_wheel = str(tmp_path) in report["file"]
        rec.check("imports from wheel", from_wheel, report["file"])
        bad_api = [k for k, v in report["api"].items() if v is not True]
        rec.check("public API", not bad_api, f"not importable: {bad_api}" if bad_api else ", ".join(PUBLIC_API))
        bad_deps = {k: v for k, v in report["deps"].items() if v is None or " not in " in str(v)}
        rec.check("base dependencies", not bad_deps, f"missing/mismatched: {bad_deps}" if bad_deps
                  else f"{len(report['deps'])} importable and in range")
        failing = [k for k, code in report["help"].items() if code != 0]
        rec.measure(commands_checked=len(report["help"]))
        rec.check("--help of every command", not failing and len(report["help"]) > 1,
                  f"non-zero exit: {failing}" if failing else f"{len(report['help'])} commands")
