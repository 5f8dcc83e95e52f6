#!/usr/bin/env python
"""Run a platform ablation sweep; same flags as ``atom ablate`` (e.g. ``--seeds 0 1 2``)."""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import atom_sdk  # noqa: F401
except ImportError:  # running from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from atom_sdk.cli.ablate import app

if __name__ == "__main__":
    app(prog_name="run_platform_ablations.py")
