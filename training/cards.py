"""Writing a model card: card.json (read by code) and the README.md rendered from it (read by
people), side by side, so that the two never disagree. Each trainer brings its renderer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..models.card import ModelCard


def write_card(card: ModelCard, folder: str | Path, render_readme: Callable[[ModelCard], str]) -> None:
    """card.json and the README that `render_readme` makes of it, in `folder`."""
    card.save(Path(folder) / "card.json")
    (Path(folder) / "README.md").write_text(render_readme(card))
