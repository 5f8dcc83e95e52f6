"""Latent science: the scientist's variables over the encoder's latent, in one coordinate frame per fit.

Why this module: the encoder trains with PPO, so the same field encodes to a different latent
after every update. On the cylinder (80x36, seed 0, 512 steps) one update moved the latent of a
fixed field by 0.08 to 0.63 (norm), a hundred times the latent's whole spread over the run under
one encoder (0.006), and 99.5 % of the variance of the buffered one-step increments came from
those jumps, not from the flow. A law fitted over a buffer that mixes eight encoders is a law
over a moving coordinate system; it cannot predict a held-out window, and none did.

So :class:`LatentVariables` keeps the *fields* of every buffered state and, before each fit,
re-encodes the whole window with the encoder's current parameters (stop-gradient: no law trains
the encoder), so every state the fit and the governor see is in one coordinate system. The
components are the window's leading principal components (:class:`LatentFrame`), whitened
(unit variance over the window) and sign-aligned with the previous frame, so that consecutive
frames name the same directions; between fits the agent's theory features project the current
encoder's latent with the last frame. Each frame (its step, explained variance and loadings) is
appended to ``latent_frames.jsonl`` beside the ledger, so every law's ``z0 ... z{k-1}`` can be
read back as directions of the latent. The state at step ``t`` is ``(z_t, r_t)`` with ``r_t``
the reward received on arriving at ``t``. An episode's first state has no such reward, so it is
not buffered (the scientist's piece of an episode starts at its second state): writing 0 there,
as the first version did, put a jump from 0 to the world's reward level at every episode start
(on the cylinder from 0 to about -1.7) into a variable whose law was then asked to explain it.

Everything is causal (a fit uses only fields observed before it, encoded with the parameters of
that moment) and deterministic (SVD of the same window gives the same frame), and the buffer
travels in :meth:`LatentVariables.state_dict`, so a resumed run refits what the uninterrupted one did.
"""

from __future__ import annotations

import base64
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FRAMES_FILE", "LatentFrame", "LatentVariables", "pca_frame"]

#: The record of every frame, one JSON line per fit, written beside the hypothesis ledger.
FRAMES_FILE = "latent_frames.jsonl"

#: The most memory the buffered fields may take (the window times one state's fields); they also
#: travel in every checkpoint (80x36 cylinder, 6 channels, window 256: 18 MB).
MAX_RING_BYTES = 1 << 30

#: Encodes a stack of fields ``(n, C, nx, ny, nz)`` with the current encoder to ``(n, latent_dim)``.
EncodeFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class LatentFrame:
    """Coordinates ``p = (z - mean) @ components / scale``: the leading principal directions of one
    re-encoded window, each scaled to unit variance over it."""

    mean: np.ndarray  # (latent_dim,)
    components: np.ndarray  # (latent_dim, k), orthonormal columns
    scale: np.ndarray  # (k,) standard deviation of each coordinate over the window
    explained: np.ndarray  # (k,) share of the window's latent variance along each direction

    def project(self, z: np.ndarray) -> np.ndarray:
        """Frame coordinates of one latent ``(latent_dim,)`` or a stack ``(n, latent_dim)``."""
        return (np.asarray(z, dtype=np.float64) - self.mean) @ self.components / self.scale

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "components": self.components.tolist(), "scale": self.scale.tolist(),
                "explained": self.explained.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LatentFrame":
        return cls(*(np.asarray(d[k], dtype=np.float64) for k in ("mean", "components", "scale", "explained")))


def pca_frame(z: np.ndarray, k: int, previous: LatentFrame | None = None) -> LatentFrame:
    """The ``k`` leading principal directions of latents ``z (n, latent_dim)``.

    Signs: each direction points the way of the previous frame's (when given), else so that its
    largest loading is positive, so the frame is a deterministic function of ``z`` and consecutive
    frames do not flip. A direction along which the window does not vary gets scale 1, not 1/0.
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2 or z.shape[0] < 2 or not 1 <= k <= z.shape[1]:
        raise ValueError(f"pca_frame needs at least 2 latents of size >= k={k}, got shape {z.shape}")
    mean = z.mean(axis=0)
    _, sv, vt = np.linalg.svd(z - mean, full_matrices=False)
    components = vt[:k].T.copy()
    if previous is not None and previous.components.shape == components.shape:
        signs = np.sign(np.sum(components * previous.components, axis=0))
    else:
        signs = np.sign(components[np.argmax(np.abs(components), axis=0), np.arange(k)])
    components *= np.where(signs == 0, 1.0, signs)
    var = sv[:k] ** 2 / z.shape[0]
    total = float(np.sum(sv**2))
    scale = np.sqrt(var)
    scale = np.where(scale > 1e-12 * max(1.0, float(np.abs(z).max())), scale, 1.0)
    explained = sv[:k] ** 2 / total if total > 0 else np.zeros(k)
    return LatentFrame(mean, components, scale, explained)


def _pack(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype=np.float32).tobytes()).decode("ascii")


def _unpack(s: str, shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(s), dtype=np.float32).reshape(shape).copy()


class LatentVariables:
    """The scientist's variables over learned features: ``k`` principal coordinates of the
    re-encoded latent and the reward (see the module docstring for why re-encode).

    Every state handed to the scientist is also kept here as its fields (a ring of the
    scientist's ``window``, in step with the scientist's own buffer). Until the scientist's
    first fit is due nothing reaches it; then the first frame is computed and the waiting
    states are replayed in order. Before every later fit the window is re-encoded with the
    current parameters, a new frame is taken, and the scientist's buffered states are replaced
    by their coordinates in it (controls and episode boundaries unchanged).
    """

    def __init__(self, k: int, latent_dim: int, settings: Any, *, record_dir: Path | None = None) -> None:
        if k > latent_dim:
            raise ValueError(f"scientist.latent_dims ({k}) exceeds the encoder's latent size agent.latent_dim "
                             f"({latent_dim}); lower latent_dims or raise latent_dim")
        self.k = int(k)
        self.window = int(settings.window)
        self.min_samples = int(settings.min_samples)
        self.fit_every = int(settings.fit_every)
        self.enabled = bool(settings.enabled)
        self.frame: LatentFrame | None = None
        self.last_reward: float | None = None  # None at an episode's start: no reward has arrived yet
        self.frames_recorded = 0
        self._last_fit: int | None = None
        self._fed = False  # whether the scientist holds the buffered states (after the first frame)
        # (fields, reward on arrival, control or None at an episode's end): the scientist's buffer, as fields
        self._ring: deque[tuple[np.ndarray, float, np.ndarray | None]] = deque(maxlen=self.window)
        self._record = None if record_dir is None else Path(record_dir) / FRAMES_FILE

    @property
    def names(self) -> list[str]:
        return [f"z{i}" for i in range(self.k)] + ["reward"]

    def state(self, z: np.ndarray, reward: float | None = None) -> np.ndarray | None:
        """The scientist's state for full latent ``z`` (None before the first frame and at an
        episode's first state, which no reward has reached yet)."""
        r = self.last_reward if reward is None else reward
        if self.frame is None or r is None:
            return None
        return np.concatenate([self.frame.project(z), [float(r)]])

    # ------------------------------------------------------------------ streaming
    def observe(self, scientist: Any, fields: np.ndarray, z: np.ndarray, u: np.ndarray, reward: float, ended: bool,
                fields_end: np.ndarray | None, z_end: np.ndarray | None, step: int, encode: EncodeFn) -> list[dict]:
        """Buffer one transition (the fields and latent the agent acted on, control ``u``, the
        ``reward`` it earned; at an episode's end the terminal fields and latent); refit when due.
        Returns the scientist's decisions."""
        if not self._ring:
            self._check_size(np.asarray(fields).size * 4)
        events = []
        if self.last_reward is not None:  # not an episode's first state
            events.append((np.asarray(fields, dtype=np.float32), self.last_reward,
                           np.asarray(u, dtype=np.float64).reshape(-1), np.asarray(z, dtype=np.float64).reshape(-1)))
        if ended:
            events.append((np.asarray(fields_end, dtype=np.float32), float(reward), None,
                           np.asarray(z_end, dtype=np.float64).reshape(-1)))
        self.last_reward = None if ended else float(reward)
        for f, r, ctrl, latent in events:
            self._ring.append((f, r, ctrl))
            if self._fed:
                self._feed(scientist, self.state(latent, r), ctrl)
        if not self._due(step):
            return []
        self._refit_frame(scientist, step, encode)
        return scientist.update(step)

    def _check_size(self, field_bytes: int) -> None:
        need = field_bytes * self.window
        if need > MAX_RING_BYTES:
            from atom_sdk.errors import ConfigError

            raise ConfigError(f"latent science keeps the fields of the scientist's window: {self.window} states of "
                              f"{field_bytes / 2**20:.1f} MiB need {need / 2**30:.1f} GiB (limit "
                              f"{MAX_RING_BYTES / 2**30:.0f} GiB)",
                              hint=f"lower scientist.window below {max(MAX_RING_BYTES // field_bytes, 1)} or use "
                                   "a coarser grid")

    def _due(self, step: int) -> bool:
        """The scientist's own rule (``Scientist.update``): enabled, ``min_samples`` buffered,
        ``fit_every`` steps since the last fit."""
        if not self.enabled or len(self._ring) < self.min_samples:
            return False
        return self._last_fit is None or int(step) - self._last_fit >= self.fit_every

    def _feed(self, scientist: Any, x: np.ndarray, ctrl: np.ndarray | None) -> None:
        if ctrl is None:  # an episode's terminal state: any control, then the boundary
            scientist.observe(x, np.zeros(scientist.n_ctrl))
            scientist.mark_boundary()
        else:
            scientist.observe(x, ctrl)

    def _refit_frame(self, scientist: Any, step: int, encode: EncodeFn) -> None:
        """Re-encode the window with the current parameters, take its frame, restate the scientist."""
        self._last_fit = int(step)
        fields = np.stack([e[0] for e in self._ring])
        z = np.asarray(encode(fields), dtype=np.float64).reshape(len(fields), -1)
        self.frame = pca_frame(z, self.k, self.frame)
        x = np.column_stack([self.frame.project(z), [e[1] for e in self._ring]])
        if not self._fed:  # first frame: replay what waited, in order
            for row, (_, _, ctrl) in zip(x, self._ring):
                self._feed(scientist, row, ctrl)
            self._fed = True
        else:
            state = scientist.state_dict()
            if len(state["buffer_x"]) != len(x):
                raise RuntimeError(f"latent ring ({len(x)}) and scientist buffer ({len(state['buffer_x'])}) "
                                   "fell out of step")
            state["buffer_x"] = x.tolist()
            scientist.load_state_dict(state)
        self._write_frame(step)

    def _write_frame(self, step: int) -> None:
        self.frames_recorded += 1
        if self._record is None:
            return
        assert self.frame is not None
        line = {"step": int(step), "frame": self.frames_recorded, "n": len(self._ring),
                "variables": self.names, **self.frame.to_dict()}
        with self._record.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, Any]:
        """Plain JSON: the frame, the ring (fields as base64 float32), the counters."""
        shape = list(self._ring[0][0].shape) if self._ring else None
        return {"version": 2, "frame": None if self.frame is None else self.frame.to_dict(),
                "last_reward": self.last_reward, "last_fit": self._last_fit, "fed": self._fed,
                "frames_recorded": self.frames_recorded, "field_shape": shape,
                "ring": [[_pack(f), r, None if c is None else c.tolist()] for f, r, c in self._ring]}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        if int(d.get("version", 1)) != 2:
            raise ValueError("the checkpoint's latent variables predate the re-encoded frame; rerun with --overwrite")
        self.frame = None if d["frame"] is None else LatentFrame.from_dict(d["frame"])
        self.last_reward = None if d["last_reward"] is None else float(d["last_reward"])
        self._last_fit = None if d["last_fit"] is None else int(d["last_fit"])
        self._fed = bool(d["fed"])
        self.frames_recorded = int(d["frames_recorded"])
        shape = tuple(d["field_shape"] or ())
        self._ring = deque(((_unpack(f, shape), float(r), None if c is None else np.asarray(c, dtype=np.float64))
                            for f, r, c in d["ring"]), maxlen=self.window)
        if self._record is not None and self._record.exists():  # drop frames written after the checkpoint
            from atom_sdk.experiment.checkpoint import truncate_lines

            truncate_lines(self._record, self.frames_recorded)
