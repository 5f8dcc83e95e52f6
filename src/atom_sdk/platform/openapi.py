"""The OpenAPI document as committed in docs/openapi.json (stable key order, trailing newline)."""

from __future__ import annotations

import json
from typing import Any


def live_schema() -> dict[str, Any]:
    from atom_sdk.platform.api import create_app
    from atom_sdk.platform.settings import PlatformSettings

    return create_app(PlatformSettings(start_workers=False)).openapi()


def export_openapi() -> str:
    return json.dumps(live_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
