"""The ``device`` setting (``cpu``, ``gpu``, ``auto``) turned into a JAX device, and recorded.

Why: the setting used to be accepted and then ignored, so ``--device gpu`` ran silently on the
CPU and ``--device cpu`` ran on the GPU. Computation is pinned with ``jax.default_device``,
which places every uncommitted array and jit-compiled computation on the chosen device.
"""

from __future__ import annotations

from typing import Any

from atom_sdk.errors import ConfigError, DeviceUnavailableError

DEVICE_CHOICES = ("cpu", "gpu", "auto")


def _backends() -> list[str]:
    import jax

    found = []
    for name in ("cpu", "gpu", "tpu"):
        try:
            if jax.devices(name):
                found.append(name)
        except RuntimeError:
            continue
    return found


def resolve_device(requested: str) -> Any:
    """The JAX device for ``requested``; ``gpu`` without a GPU backend is an error (exit 2)."""
    import jax

    if requested not in DEVICE_CHOICES:
        raise ConfigError(f"device '{requested}' is not one of {', '.join(DEVICE_CHOICES)}")
    if requested == "cpu":
        return jax.devices("cpu")[0]
    if requested == "gpu":
        try:
            return jax.devices("gpu")[0]
        except RuntimeError:
            raise DeviceUnavailableError(
                f"--device gpu: JAX has no GPU backend on this machine (available: {', '.join(_backends())}); "
                "install a CUDA build of jaxlib (pip install 'jax[cuda12]') or use --device cpu or auto") from None
    return jax.devices()[0]


def describe_device(device: Any, requested: str) -> dict[str, Any]:
    """What a run records in its provenance about where it ran."""
    return {"requested": requested, "platform": device.platform, "kind": getattr(device, "device_kind", ""),
            "id": int(device.id)}


def device_memory_bytes(device: Any) -> int | None:
    """Memory an accelerator offers (None on the CPU, where host memory is the limit)."""
    if device.platform == "cpu":
        return None
    try:
        stats = device.memory_stats() or {}
    except Exception:  # noqa: BLE001 - backends without memory stats
        return None
    limit = stats.get("bytes_limit")
    return int(limit) if limit else None


def host_available_bytes() -> int | None:
    """``MemAvailable`` from /proc/meminfo (Linux), else physical memory, else None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import os

        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None
