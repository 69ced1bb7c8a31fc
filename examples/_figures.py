"""Saving an example's figure (shared by the example scripts run as ``python examples/<name>.py``)."""

from pathlib import Path


def save(fig, out: Path, dpi: int = 110) -> None:
    """Lay the figure out, write it to `out` (creating the folder) and say where."""
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    print(f"wrote {out}")
