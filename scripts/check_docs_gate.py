#!/usr/bin/env python
"""Run gate G-09 (docs and OpenAPI freshness) alone; exit 1 on failure. Same flags as `atom release gates`."""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import atom_sdk  # noqa: F401
except ImportError:  # running from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from atom_sdk.cli.main import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if "--profile" not in args and not any(a.startswith("--profile=") for a in args):
        args = ["--profile", "release", *args]  # the docs gate is a release check
    main(["release", 'gates', '--only', 'G-09', *args])
