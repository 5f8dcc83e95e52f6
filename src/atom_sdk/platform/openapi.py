"""The OpenAPI document as committed in docs/openapi.json (stable key order, trailing newline)."""

from __future__ import annotations

import json
from typing import Any

from atom_sdk.platform.settings import TITLE
from atom_sdk.workspace import ReportKind

#: what ``atom openapi export --output`` may replace: this platform's OpenAPI document, nothing else
OPENAPI_REPORT = ReportKind("OpenAPI document of this platform", keys=("openapi", "info", "paths"),
                            accept=lambda doc: isinstance(doc["info"], dict) and doc["info"].get("title") == TITLE)


def live_schema() -> dict[str, Any]:
    from atom_sdk.platform.api import create_app
    from atom_sdk.platform.settings import PlatformSettings

    return create_app(PlatformSettings(start_workers=False)).openapi()


def export_openapi() -> str:
    return json.dumps(live_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
