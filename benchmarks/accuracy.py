"""Forecast accuracy on the Superstore order lines: our ensemble against standard baselines.

Data: Tableau's "Sample - Superstore" export (order lines: Order Date, Product ID, Category,
Quantity, Sales), by default ``../shared/data/retail/superstore_orders.csv`` next to the
repository; when the file is absent the benchmark prints "skipped" and exits 0. Units are
Quantity, the unit price Sales / Quantity. Weekly product series end with the last full week.

Protocol (nothing is fitted on the data it is scored on):

* evaluation windows: ``--eval-windows`` cutoffs, ``--step`` weeks apart, the last one 52 weeks
  before the end of the data; each forecasts 52 weeks;
* selection windows: ``--selection-windows`` cutoffs, ``--step`` weeks apart, the last one
  52 weeks before the first evaluation cutoff, so their whole target period is known at every
  evaluation cutoff. The ensemble weights, reconciliation variances and every conformal
  calibration (ours and the baselines') come from these windows only;
* one ``ml.backtest`` on all cutoffs runs every base model; the ensemble is
  ``fit_ensemble`` on the selection windows and ``ensemble_predictions`` on the evaluation
  windows.

Compared on the same evaluation windows:

* ``seasonal_naive``: the value 52 weeks earlier (per product; at the category level fitted on
  the category series);
* ``auto_ets`` and ``prophet``: the library's aggregate models, fitted directly on each
  category series (not fitted per product: "n/a" at the product level);
* ``mlf_lightgbm``: a default mlforecast LightGBM (``LGBMRegressor(random_state=0)``, lags
  1-4 and 52, no other feature, no tuning) fitted on the product series at each cutoff; product
  forecasts clipped at 0 and summed to the categories.

Levels: product-week, category-week and category-month, where a month is one of the 13
consecutive 4-week blocks of the 52-week horizon (steps 1-4, 5-8, ...), y and forecasts summed
over the block. WAPE = sum |error| / sum y over every scored point. MASE = mean over series and
cutoffs of MAE / scale, the scale being the in-sample seasonal-naive MAE on the history up to
the cutoff: weekly values at lag 52 (``ml.metrics``) for the weekly levels; for months, the
history up to the cutoff cut into 4-week blocks counted back from the cutoff, at lag 13 blocks.

Coverage: share of actuals inside the 80 % / 95 % intervals. Weekly levels: conformal
intervals from ``ml.intervals.calibrate`` on the selection windows (the ensemble's come from
``fit_ensemble``; each baseline gets the same calibration on its own column). Months: scores
``|sum y - sum yhat| / month scale`` of the selection windows, pooled over the 13 blocks, the
categories and the windows (3 categories x 13 blocks x 3 windows = 117 scores by default; per
block there would be only 9), conformal quantile ``ceil((n + 1) a)``-th smallest.

Usage: .venv/bin/python benchmarks/accuracy.py [--data PATH] [--quick] [--members] [--variants]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from forecast_pipeline import ml
from forecast_pipeline.ml.engine import ensemble_predictions
from forecast_pipeline.ml.intervals import add_intervals, calibrate, level_scales
from forecast_pipeline.ml.metrics import cutoff_scales
from forecast_pipeline.ml.prophet_model import MIN_YEARLY_SPAN

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/retail/superstore_orders.csv"
HORIZON = 52
BLOCK = 4  # weeks per "month"
ENSEMBLE = "ensemble"
LGBM = "mlf_lightgbm"
BASELINES = ("seasonal_naive", "auto_ets", "prophet", LGBM)
LEVEL_ROWS = ("product-week", "category-week", "category-month")
PERCENTS = (80, 95)


def load_daily(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Order lines -> daily frame (date, product_id, units, unit_price) and categories."""
    raw = pd.read_csv(path, usecols=["Order Date", "Product ID", "Category", "Quantity", "Sales"])
    daily = pd.DataFrame(
        {
            "date": pd.to_datetime(raw["Order Date"]),
            "product_id": raw["Product ID"].astype(str),
            "units": raw["Quantity"].astype(float),
            "unit_price": raw["Sales"] / raw["Quantity"].where(raw["Quantity"] > 0),
        }
    )
    categories = (
        raw.groupby("Product ID")["Category"]
        .agg(lambda s: s.mode().iloc[0])
        .rename_axis("unique_id")
        .rename("category")
        .reset_index()
    )
    return daily, categories


def weekly_origin(last_date: pd.Timestamp) -> pd.Timestamp:
    """The Monday after the last full Monday-Sunday week on or before ``last_date``."""
    after = last_date.normalize() + pd.Timedelta(days=1)
    return after - pd.Timedelta(days=after.dayofweek)


def window_cutoffs(
    last: pd.Timestamp, n_eval: int, n_sel: int, step: int
) -> tuple[list[pd.Timestamp], list[pd.Timestamp]]:
    week = pd.Timedelta(weeks=1)
    last_eval = last - HORIZON * week
    evaluation = [last_eval - (n_eval - 1 - k) * step * week for k in range(n_eval)]
    last_sel = evaluation[0] - HORIZON * week
    selection = [last_sel - (n_sel - 1 - k) * step * week for k in range(n_sel)]
    return selection, evaluation


def default_lightgbm(
    series: pd.DataFrame, cutoffs: Sequence[pd.Timestamp], categories: pd.DataFrame, seed: int
) -> pd.DataFrame:
    """A default mlforecast LightGBM per cutoff: product forecasts (clipped at 0) and their
    category sums, as ``level``, ``unique_id``, ``ds``, ``cutoff``, :data:`LGBM`."""
    import lightgbm as lgb
    from mlforecast import MLForecast

    frames = []
    for cutoff in cutoffs:
        train = series[series["ds"] <= cutoff]
        mlf = MLForecast(
            models={LGBM: lgb.LGBMRegressor(random_state=seed, verbosity=-1, n_jobs=2)},
            freq="W-MON",
            lags=[1, 2, 3, 4, 52],
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mlf.fit(train)
            fcst = mlf.predict(h=HORIZON)
        fcst[LGBM] = fcst[LGBM].clip(lower=0.0)
        cats = fcst.merge(categories, on="unique_id", how="left")
        cat_sum = cats.groupby(["category", "ds"], as_index=False)[LGBM].sum()
        frames += [
            fcst.assign(level="product", cutoff=cutoff),
            cat_sum.rename(columns={"category": "unique_id"}).assign(
                level="category", cutoff=cutoff
            ),
        ]
    return pd.concat(frames, ignore_index=True)[["level", "unique_id", "ds", "cutoff", LGBM]]


def with_intervals(
    preds: pd.DataFrame, sel: pd.DataFrame, history: pd.DataFrame, model: str
) -> pd.DataFrame:
    """``preds`` (evaluation rows where ``model`` is defined) with ``lo_<p>``/``hi_<p>`` of
    ``model``, conformal-calibrated on the selection rows ``sel`` (ml.intervals)."""
    sel = sel[sel[model].notna()]
    cal = calibrate(sel, model, history, horizon=HORIZON, season_length=52, windows={"week": 1})
    out = preds[preds[model].notna()].drop(columns=[c for c in preds if c[:3] in ("lo_", "hi_")])
    scales = level_scales(history, sorted(out["cutoff"].unique()), 52)
    out = out.merge(scales, on=["level", "unique_id", "cutoff"], how="left")
    return add_intervals(out, cal.steps, on=["level", "step"], value_col=model)


def month_totals(preds: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    """Category rows summed over the 4-week blocks of the horizon: ``unique_id``, ``cutoff``,
    ``block`` (1..13), ``y`` and ``cols``."""
    cat = preds[preds["level"] == "category"].assign(block=(preds["step"] - 1) // BLOCK + 1)
    out = cat.groupby(["unique_id", "cutoff", "block"], as_index=False).agg(
        n=("step", "size"), **{c: (c, "sum") for c in ["y", *cols]}
    )
    return out[out["n"] == BLOCK].drop(columns="n")


def month_scales(history: pd.DataFrame, cutoffs: Sequence[pd.Timestamp]) -> pd.DataFrame:
    """Seasonal-naive MAE (lag 13 blocks; lag 1 if fewer than 14 blocks) of the 4-week block
    totals of each category's history up to each cutoff, blocks counted back from the cutoff."""
    cat = history[history["level"] == "category"]
    rows = []
    for cutoff in cutoffs:
        known = cat[cat["ds"] <= cutoff]
        for uid, part in known.groupby("unique_id"):
            y = part.sort_values("ds")["y"].to_numpy()
            y = y[len(y) % BLOCK :].reshape(-1, BLOCK).sum(axis=1)
            lag = 13 if y.size > 13 else 1
            rows.append(
                {"unique_id": uid, "cutoff": cutoff, "scale": np.abs(y[lag:] - y[:-lag]).mean()}
            )
    return pd.DataFrame(rows)


def conformal_quantile(scores: np.ndarray, percent: int) -> float:
    values = np.sort(scores[np.isfinite(scores)])
    k = min(math.ceil((values.size + 1) * percent / 100.0), values.size)
    return float(values[k - 1])


def scores(frame: pd.DataFrame, model: str) -> dict[str, float]:
    """WAPE and MASE of ``model`` on ``frame`` (``unique_id``, ``cutoff``, ``y``, ``scale``)
    and coverage when ``lo_<p>``/``hi_<p>`` are present."""
    err = (frame[model] - frame["y"]).abs()
    out = {"wape": err.sum() / frame["y"].abs().sum()}
    mae = err.groupby([frame["unique_id"], frame["cutoff"]]).mean()
    scale = frame.groupby(["unique_id", "cutoff"])["scale"].first()
    ratio = (mae / scale.where(scale > 0)).to_numpy()
    out["mase"] = float(np.nanmean(ratio[np.isfinite(ratio)]))
    for p in PERCENTS:
        if f"lo_{p}" in frame:
            inside = (frame[f"lo_{p}"] <= frame["y"]) & (frame["y"] <= frame[f"hi_{p}"])
            out[f"cov{p}"] = float(inside.mean())
    return out


def weekly_rows(
    ev: pd.DataFrame,
    sel: pd.DataFrame,
    history: pd.DataFrame,
    models: Sequence[str],
) -> list[dict]:
    """Metrics of ``models`` at product-week and category-week (MASE scale: ml.metrics)."""
    cutoffs = sorted(ev["cutoff"].unique())
    rows = []
    for level in ("product", "category"):
        hist = history.loc[history["level"] == level, ["unique_id", "ds", "y"]]
        scale = cutoff_scales(hist, cutoffs, 52)
        for model in models:
            part = ev[(ev["level"] == level)]
            if part[model].isna().all():
                rows.append({"level": f"{level}-week", "model": model})
                continue
            if model == ENSEMBLE:
                framed = part
            else:
                framed = with_intervals(part, sel[sel["level"] == level], history, model)
            framed = framed.drop(columns="scale", errors="ignore")
            framed = framed.merge(scale, on=["unique_id", "cutoff"], how="left")
            rows.append({"level": f"{level}-week", "model": model, **scores(framed, model)})
    return rows


def monthly_rows(
    ev: pd.DataFrame, sel: pd.DataFrame, history: pd.DataFrame, models: Sequence[str]
) -> list[dict]:
    """Metrics of ``models`` at category-month, intervals calibrated on selection months."""
    ev_m = month_totals(ev, models)
    sel_m = month_totals(sel, models)
    cutoffs = sorted({*ev_m["cutoff"].unique(), *sel_m["cutoff"].unique()})
    scale = month_scales(history, cutoffs)
    ev_m = ev_m.merge(scale, on=["unique_id", "cutoff"], how="left")
    sel_m = sel_m.merge(scale, on=["unique_id", "cutoff"], how="left")
    rows = []
    for model in models:
        sel_scores = ((sel_m["y"] - sel_m[model]).abs() / sel_m["scale"]).to_numpy()
        frame = ev_m.copy()
        for p in PERCENTS:
            width = conformal_quantile(sel_scores, p) * frame["scale"]
            frame[f"lo_{p}"] = (frame[model] - width).clip(lower=0.0)
            frame[f"hi_{p}"] = (frame[model] + width).clip(lower=0.0)
        rows.append({"level": "category-month", "model": model, **scores(frame, model)})
    return rows


def ensemble_frames(
    result: ml.BacktestResult,
    spec: ml.ForecastSpec,
    categories: pd.DataFrame,
    selection: list[pd.Timestamp],
    evaluation: list[pd.Timestamp],
) -> tuple[ml.EnsembleModel, pd.DataFrame, pd.DataFrame]:
    """The ensemble fitted on the selection windows, applied to both sets of windows."""
    model = ml.fit_ensemble(result.windows(selection), spec, categories)
    sel = ensemble_predictions(result.windows(selection), model, spec, categories)
    ev = ensemble_predictions(result.windows(evaluation), model, spec, categories)
    return model, sel, ev


def fmt(value: float | None, pct: bool = False) -> str:
    if value is None or not np.isfinite(value):
        return "n/a" if not pct else "-"
    return f"{value:.1%}" if pct else f"{value:.3f}"


def print_table(rows: list[dict]) -> None:
    print(f"\n{'level':15s} {'model':16s} {'WAPE':>7s} {'MASE':>7s} {'cov80':>7s} {'cov95':>7s}")
    for level in LEVEL_ROWS:
        for row in (r for r in rows if r["level"] == level):
            print(
                f"{level:15s} {row['model']:16s} {fmt(row.get('wape')):>7s} "
                f"{fmt(row.get('mase')):>7s} {fmt(row.get('cov80'), True):>7s} "
                f"{fmt(row.get('cov95'), True):>7s}"
            )
    for level in LEVEL_ROWS[1:]:
        level_rows = [
            r for r in rows if r["level"] == level and r["model"] in (ENSEMBLE, *BASELINES)
        ]
        ours = next(r for r in level_rows if r["model"] == ENSEMBLE)
        others = [r for r in level_rows if r["model"] != ENSEMBLE]
        verdict = {
            m: all(ours[m] < r[m] for r in others if np.isfinite(r.get(m, np.nan)))
            for m in ("wape", "mase")
        }
        gaps = [abs(ours.get(f"cov{p}", np.nan) - p / 100) for p in PERCENTS]
        print(
            f"goal {level}: ensemble best WAPE {'yes' if verdict['wape'] else 'NO'}, "
            f"best MASE {'yes' if verdict['mase'] else 'NO'}, coverage within 5 points "
            f"{'yes' if max(gaps) <= 0.05 else 'NO'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--eval-windows", type=int, default=3)
    parser.add_argument("--selection-windows", type=int, default=3)
    parser.add_argument("--step", type=int, default=4, help="weeks between cutoffs")
    parser.add_argument("--quick", action="store_true", help="one window of each kind")
    parser.add_argument("--reconciliation", default="middle_out")
    parser.add_argument(
        "--product-models",
        default="seasonal_naive,moving_average,tsb,lightgbm,xgboost",
        help="comma-separated product models of the ensemble",
    )
    parser.add_argument(
        "--members", action="store_true", help="also score the ensemble's own members"
    )
    parser.add_argument(
        "--variants",
        action="store_true",
        help="also refit the ensemble (same backtest) with other reconciliations and without "
        "each product model, and print their category WAPE/MASE",
    )
    args = parser.parse_args()
    if not args.data.exists():
        print(f"skipped: {args.data} not found")
        return
    n_eval, n_sel = (1, 1) if args.quick else (args.eval_windows, args.selection_windows)
    started = time.perf_counter()

    daily, categories = load_daily(args.data)
    origin = weekly_origin(daily["date"].max())
    series = ml.weekly_series(daily, origin)
    selection, evaluation = window_cutoffs(series["ds"].max(), n_eval, n_sel, args.step)
    history_weeks = (selection[0] - series["ds"].min()) // pd.Timedelta(weeks=1) + 1
    if history_weeks < 52:
        raise SystemExit(f"first selection cutoff has only {history_weeks} weeks of history")
    spec = ml.ForecastSpec(
        horizon=HORIZON,
        reconciliation=args.reconciliation,
        product_models=tuple(args.product_models.split(",")),
        aggregate_models=("seasonal_naive", "auto_ets", "prophet"),
    )
    exog = ml.Exogenous(per_series=ml.period_prices(daily, series, spec.freq))
    inputs = ml.ModelInputs(categories=categories, exog=exog)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = ml.backtest(series, spec, inputs, cutoffs=[*selection, *evaluation])
    backtest_seconds = time.perf_counter() - started
    lgbm = default_lightgbm(series, [*selection, *evaluation], categories, spec.seed)
    lgbm_seconds = time.perf_counter() - started - backtest_seconds

    model, sel, ev = ensemble_frames(result, spec, categories, selection, evaluation)
    keys = ["level", "unique_id", "ds", "cutoff"]
    sel = sel.merge(lgbm, on=keys, how="left")
    ev = ev.merge(lgbm, on=keys, how="left")
    if ev.loc[ev["level"] != "total", LGBM].isna().any():
        raise RuntimeError("the default LightGBM misses some series of the backtest")
    members = [m for m in result.models if m not in BASELINES] if args.members else []
    models = [ENSEMBLE, *BASELINES, *members]
    ev_scored = ev[ev["level"] != "total"]
    rows = weekly_rows(ev_scored, sel, result.history, models)
    rows += monthly_rows(ev_scored, sel, result.history, models)
    wall = time.perf_counter() - started

    n_products = series["unique_id"].nunique()
    print(
        f"data: {args.data.name}: {len(daily):,} order lines, {n_products:,} products, "
        f"{categories['category'].nunique()} categories, weeks {series['ds'].min().date()} .. "
        f"{series['ds'].max().date()} ({series['ds'].nunique()} weeks), "
        f"{(series['y'] == 0).mean():.1%} zero product-weeks"
    )
    print(
        f"selection cutoffs (weights, calibration): {', '.join(str(c.date()) for c in selection)}"
    )
    dates = ", ".join(str(c.date()) for c in evaluation)
    print(f"evaluation cutoffs (scored, 52 weeks ahead): {dates}")
    print(
        f"spec: product_models={','.join(spec.product_models)}, "
        f"reconciliation={spec.reconciliation}; first selection cutoff has {history_weeks} weeks "
        f"of history"
    )
    if history_weeks < 2 * spec.season_length:
        print(
            f"note: auto_ets needs {2 * spec.season_length} weekly points and prophet a "
            f"{MIN_YEARLY_SPAN.days}-day span to fit a yearly seasonality; the first selection "
            f"cutoff has {history_weeks} weeks"
        )
    print(
        f"wall time {wall:.0f} s (backtest {backtest_seconds:.0f} s, "
        f"default mlforecast LightGBM {lgbm_seconds:.0f} s)"
    )
    print_table(rows)
    print("\nensemble weights (fitted on the selection windows):")
    for level, part in model.weights.groupby("level", sort=False):
        pairs = zip(part["model"], part["weight"], strict=True)
        weights = ", ".join(f"{m} {w:.2f}" for m, w in pairs if w >= 0.005)
        print(f"  {level:9s} {weights}")
    if len(evaluation) > 1:
        print_leave_one_out(result.windows(evaluation), spec, categories)
    if args.variants:
        print_variants(result, spec, categories, selection, evaluation)


def print_leave_one_out(
    result: ml.BacktestResult, spec: ml.ForecastSpec, categories: pd.DataFrame
) -> None:
    """The platform's own backtest protocol (``ml.evaluate``) on the evaluation windows only:
    each window's ensemble is fitted on the other evaluation windows. Not strictly temporal
    (later windows inform earlier ones), printed to show what the weekly asset reports."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evaluation = ml.evaluate(result, spec, categories)
    print("\nplatform protocol (ml.evaluate, leave one evaluation window out), ensemble:")
    for level in ("product", "category"):
        row = evaluation.leaderboard(level).set_index("model").loc[ENSEMBLE]
        print(
            f"  {level}-week  WAPE {row['wape']:.3f}  MASE {row['mase']:.3f}  "
            f"cov80 {row['coverage_80']:.1%}  cov95 {row['coverage_95']:.1%}"
        )


def print_variants(
    result: ml.BacktestResult,
    spec: ml.ForecastSpec,
    categories: pd.DataFrame,
    selection: list[pd.Timestamp],
    evaluation: list[pd.Timestamp],
) -> None:
    """Category WAPE/MASE of the ensemble refitted on the same backtest with one change."""
    variants: list[tuple[str, ml.ForecastSpec, ml.BacktestResult]] = []
    for method in ("middle_out", "wls_var", "wls_struct", "bottom_up"):
        variants.append(
            (f"reconciliation={method}", dataclasses.replace(spec, reconciliation=method), result)
        )
    for dropped in spec.product_models:
        keep = [c for c in result.predictions.columns if c != dropped]
        reduced = ml.BacktestResult(result.predictions[keep], result.history)
        variants.append((f"without {dropped}", spec, reduced))
    header = f"{'cat-week WAPE':>13s} {'MASE':>6s} {'cat-month WAPE':>14s} {'MASE':>6s}"
    print(f"\n{'variant':32s} {header}")
    for name, variant_spec, variant_result in variants:
        _, sel, ev = ensemble_frames(
            variant_result, variant_spec, categories, selection, evaluation
        )
        ev = ev[ev["level"] != "total"]
        week = weekly_rows(ev, sel, result.history, [ENSEMBLE])[1]
        month = monthly_rows(ev, sel, result.history, [ENSEMBLE])[0]
        print(
            f"{name:32s} {week['wape']:13.3f} {week['mase']:6.3f} {month['wape']:14.3f} "
            f"{month['mase']:6.3f}"
        )


if __name__ == "__main__":
    main()
