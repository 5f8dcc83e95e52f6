"""The README's statements about the code match the code (the newcomer audit found several that did not)."""

from __future__ import annotations

import re
from pathlib import Path

from atom_sdk.experiment.variants import CATALOG

README = Path(__file__).resolve().parents[1] / "README.md"
_NUMBERS = {6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten", 11: "eleven", 12: "twelve"}


def _variants_paragraph(text: str) -> str:
    start = text.index("Variants (`--variant`")
    return text[start:text.index("\n\n", start)]


def test_readme_variants_paragraph_names_every_variant_and_only_those() -> None:
    paragraph = _variants_paragraph(README.read_text(encoding="utf-8"))
    listed = {m for m in re.findall(r"`([a-z0-9_]+)`", paragraph) if m in CATALOG or m.startswith(("v1_", "v2_", "ppo_", "no_"))}
    assert listed == set(CATALOG), f"README lists {sorted(listed)}, the registry has {sorted(CATALOG)}"


def test_readme_variant_count_matches_the_registry() -> None:
    text = README.read_text(encoding="utf-8")
    word = _NUMBERS[len(CATALOG)]
    assert f"{word} variants" in text and f"(`--variant`, {word})" in text
    for other in set(_NUMBERS.values()) - {word}:
        assert f"{other} variants" not in text, f"README still says '{other} variants'"


def _python_block_with(text: str, marker: str) -> str:
    at = text.index(marker)
    start = text.rindex("```python\n", 0, at) + len("```python\n")
    return text[start:text.index("```", start)]


def test_readme_gymnasium_snippet_runs_as_a_script(tmp_path: Path) -> None:
    """Saved verbatim and run with ``python script.py``: spawned async workers re-import it, so it needs the guard."""
    import subprocess
    import sys

    import pytest

    pytest.importorskip("gymnasium")
    code = _python_block_with(README.read_text(encoding="utf-8"), "import atom_sdk.worlds  # noqa: F401")
    assert 'if __name__ == "__main__":' in code
    script = tmp_path / "readme_gym.py"
    script.write_text(code, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "(18,) (256, 256, 3) (4, 11)"
