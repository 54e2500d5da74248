"""Charts for the asset metadata, as Markdown images the Dagster UI renders inline."""

from __future__ import annotations

import base64
import io
from typing import Any

import pandas as pd

__all__ = [
    "forecast_chart",
    "forecast_figure",
    "leaderboard_chart",
    "leaderboard_figure",
    "markdown_png",
]


def markdown_png(fig: Any) -> str:
    """The figure as an inline Markdown image (the figure is closed afterwards)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"![chart](data:image/png;base64,{encoded})"


def leaderboard_chart(metrics: pd.DataFrame, metric: str = "wape") -> str:
    """:func:`leaderboard_figure` as a Markdown image."""
    return markdown_png(leaderboard_figure(metrics, metric))


def leaderboard_figure(metrics: pd.DataFrame, metric: str = "wape") -> Any:
    """Bar chart of ``metric`` per model (overall rows), one panel per level."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    overall = metrics[metrics["cutoff"].isna()]
    levels = [lvl for lvl in ("product", "category", "total") if lvl in set(overall["level"])]
    fig, axes = plt.subplots(1, len(levels), figsize=(4.2 * len(levels), 3.2), squeeze=False)
    for ax, level in zip(axes[0], levels, strict=True):
        part = overall[overall["level"] == level].sort_values(metric)
        colors = ["#d62728" if m == "ensemble" else "#1f77b4" for m in part["model"]]
        ax.barh(part["model"], part[metric], color=colors)
        ax.invert_yaxis()
        ax.set_title(f"{level}: backtest {metric.upper()}")
    fig.tight_layout()
    return fig


def forecast_chart(history: pd.DataFrame, steps: pd.DataFrame, series: list[str]) -> str:
    """:func:`forecast_figure` as a Markdown image."""
    return markdown_png(forecast_figure(history, steps, series))


def forecast_figure(history: pd.DataFrame, steps: pd.DataFrame, series: list[str]) -> Any:
    """Actuals (last two years) against the forecast and its 80 %/95 % bands, one panel per
    series of ``series`` (``unique_id`` values of the category level)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(series), 1, figsize=(8, 2.4 * len(series)), squeeze=False)
    for ax, uid in zip(axes[:, 0], series, strict=True):
        hist = history[history["unique_id"] == uid].tail(104)
        fcst = steps[steps["unique_id"] == uid]
        ax.plot(hist["ds"], hist["y"], color="black", linewidth=1, label="actual")
        ax.fill_between(fcst["ds"], fcst["lo_95"], fcst["hi_95"], alpha=0.15, color="#1f77b4")
        ax.fill_between(fcst["ds"], fcst["lo_80"], fcst["hi_80"], alpha=0.3, color="#1f77b4")
        ax.plot(fcst["ds"], fcst["yhat"], color="#1f77b4", linewidth=1.5, label="forecast")
        ax.set_title(str(uid))
    axes[0, 0].legend(loc="upper left")
    fig.tight_layout()
    return fig
