#!/usr/bin/env python
"""Assemble a release packet; same flags as `atom release packet`."""

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
    main(["release", 'packet', *args])
