#!/usr/bin/env python
"""Regenerate ablation figures, significance and claims from JSON; same flags as ``atom ablate plot``."""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import atom_sdk  # noqa: F401
except ImportError:  # running from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from atom_sdk.cli.ablate import app

if __name__ == "__main__":
    app(args=["plot", *sys.argv[1:]], prog_name="plot_platform_ablations.py")
