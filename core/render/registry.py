"""The renderers a take can draw with, by name: one protocol, one factory each.

A project (``settings.renderer``) and the command line (``--renderer``) choose by name.
Factories import their backend lazily, so listing the names costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from core.errors import StudioError
from core.keypoints.regions import RegionSet


class Renderer(Protocol):
    """Draws output frames from the source frame and its tracked and edited keypoints."""

    name: str
    #: whether it is fast enough here for the live preview (else the preview uses warp)
    preview: bool
    #: frames per ``render_batch`` call that export should gather
    batch_size: int

    def render(self, frame: np.ndarray, src_pts: np.ndarray, dst_pts: np.ndarray, *,
               out_size: tuple[int, int] | None = None, mouth: Any = None) -> np.ndarray:
        """(H, W, 3) uint8 RGB: ``frame`` with its face moved from src_pts to dst_pts."""
        ...

    # A renderer with batch_size > 1 also has
    # render_batch(items: list[(frame, src_pts, dst_pts, mouth)]) -> list[np.ndarray]


class RendererUnavailable(StudioError):
    """A renderer that cannot run here (no weights, or weights that do not load)."""


def _warp(regions: RegionSet, **_: Any) -> Renderer:
    from core.render.warp import WarpRenderer

    return WarpRenderer(regions)


def _liveportrait(regions: RegionSet, *, weights: str | Path | None = None,
                  device: str | None = None, **_: Any) -> Renderer:
    from core.render.liveportrait.renderer import LivePortraitRenderer

    return LivePortraitRenderer(regions, weights, device=device)


#: name → factory(regions, weights=..., device=...)
FACTORIES: dict[str, Callable[..., Renderer]] = {"warp": _warp, "liveportrait": _liveportrait}
DEFAULT = "warp"


def register_renderer(name: str, factory: Callable[..., Renderer]) -> None:
    """Add a renderer: a project's ``renderer`` setting (and ``--renderer``) may then name
    it, and ``factory(regions, weights=..., device=...)`` makes it."""
    FACTORIES[name] = factory


def renderer_names() -> tuple[str, ...]:
    return tuple(FACTORIES)


def preview_note(name: str) -> str | None:
    """What the user should know about previewing with ``name`` on this machine."""
    if name == "liveportrait":
        import torch

        if not torch.cuda.is_available():
            return ("liveportrait draws the export only: without a GPU a frame takes seconds, "
                    "so the preview shows the warp renderer")
    return None


def create_renderer(name: str, regions: RegionSet, *, weights: str | Path | None = None,
                    device: str | None = None) -> Renderer:
    """The renderer called ``name``; weights are checked here, before any long work."""
    if name not in FACTORIES:
        raise ValueError(f"unknown renderer {name!r}: choose {', '.join(FACTORIES)}")
    return FACTORIES[name](regions, weights=weights, device=device)
