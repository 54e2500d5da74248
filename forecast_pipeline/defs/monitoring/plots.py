"""The realised-accuracy chart of the asset metadata."""

from typing import Any

import pandas as pd

from forecast_pipeline.defs.forecasting.plots import markdown_png
from forecast_pipeline.monitoring.accuracy import metrics_from_components

# horizon ranges drawn as lines, with their labels
_LINES = (
    ((1, 1), "1 week ahead"),
    ((2, 4), "2-4 weeks"),
    ((5, 13), "5-13 weeks"),
    ((1, 52), "all horizons"),
)


def accuracy_chart(scored: pd.DataFrame, limits: dict[str, float] | None = None) -> str:
    """:func:`accuracy_figure` as a Markdown image."""
    return markdown_png(accuracy_figure(scored, limits))


def accuracy_figure(scored: pd.DataFrame, limits: dict[str, float] | None = None) -> Any:
    """Realised WAPE per target week, one panel per level (product, category), one line per
    horizon range; ``limits`` (level -> WAPE) draws the error-drift limit of each level."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    levels = [lvl for lvl in ("product", "category") if lvl in set(scored["level"])]
    fig, axes = plt.subplots(1, max(len(levels), 1), figsize=(5.5 * max(len(levels), 1), 3.4))
    axes = [axes] if len(levels) <= 1 else list(axes)
    for ax, level in zip(axes, levels, strict=False):
        part = scored[scored["level"] == level]
        for (low, high), label in _LINES:
            lines = part[part["horizon"].between(low, high)]
            if lines.empty:
                continue
            wape = metrics_from_components(lines, ["target_week"])
            ax.plot(wape["target_week"], wape["wape"], marker="o", ms=3, label=label)
        if limits and level in limits:
            ax.axhline(limits[level], color="#d62728", ls="--", lw=1, label="error-drift limit")
        ax.set_title(f"{level}: realised WAPE by target week")
        ax.set_ylim(bottom=0)
        if part["target_week"].nunique() > 1:  # a locator cannot space a single date
            locator = mdates.AutoDateLocator(maxticks=6)
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
