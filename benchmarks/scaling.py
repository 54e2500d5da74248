"""Scaling of the weekly model layer: wall time and peak memory per stage for 1k-100k products.

Each catalogue size runs in a fresh subprocess (so its peak memory is its own) on generated
weekly series of three years (156 weeks): ~20 categories with their own yearly seasonality and
year-end peaks, product levels spanning four orders of magnitude (slow movers are intermittent,
mostly zero weeks), trends, promotions with price cuts and uplifts, list-price changes, late
launches (some cold starts) and discontinued products; per-series ``price``,
``relative_price`` and ``promo_share`` as exogenous features. The stages are the forecasting
assets' calls, in their order:

* features: ``relative_price`` (rolling 13-week high, as ``ml.period_prices``), the model-ready
  frames and mlforecast's ``preprocess`` of all products (lags, rolling means, calendar and
  exogenous features; discarded, it shows what the global models compute on each fit);
* tuning: ``ml.tune`` of LightGBM (``--trials``, ``--tuning-seconds``, a ``--tuning-series``
  sample of products over ``--tuning-windows`` windows, by default those of ``ml.TuningBudget``);
* backtest: ``ml.backtest`` with the tuned parameters (``--windows`` cutoffs);
* ensemble: ``ml.fit_ensemble``; evaluate: ``ml.evaluate`` (the ensemble asset runs both);
* fit, forecast, reconciliation: one ``ml.forecast`` call, split by instrumenting it:
  fit = ``base_forecasts`` (every model fitted on all data; the statistical models and Prophet
  fit and forecast in one pass, so their forecasting is counted here) less the global models'
  recursive prediction; forecast = that prediction plus weights, cold start, intervals and
  window totals; reconciliation = the middle-out / least-squares step.

Time and memory go to the innermost instrumented call (library functions wrapped for the run,
the files are not changed), so the rows of a size add up to its total; the breakdown table
lists those calls. Peak memory is the process's resident set (VmRSS of /proc/self/status,
sampled every 10 ms by a thread, and ru_maxrss read at every stage change, which catches peaks
between samples); Prophet's cmdstan child processes (small) are not included. CPU seconds
(all threads of the process) are shown beside wall seconds: on a shared machine they tell
waiting for a core from work. ``--omp-wait-policy passive`` runs the sizes with
``OMP_WAIT_POLICY=PASSIVE``: LightGBM's and XGBoost's OpenMP threads then sleep instead of
spinning while they wait, which matters when other processes compete for the cores.

Usage: .venv/bin/python benchmarks/scaling.py [--sizes 1000 10000 100000] [--trials 20]
[--windows 3] [--tuning-seconds 600] [--tuning-series N] [--tuning-windows N]
[--max-train-steps N] [--no-evaluate] [--omp-wait-policy passive] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import json
import os
import resource
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

N_WEEKS = 156
N_CATEGORIES = 20
FIRST_WEEK = "2022-01-03"
GOALS = {10_000: 300.0, 100_000: 1800.0}  # seconds, from the scaling issue
MEMORY_GOAL_GB = 16.0
STAGES = (
    "features",
    "tuning",
    "backtest",
    "ensemble",
    "evaluate",
    "fit",
    "forecast",
    "reconciliation",
)
FINAL = "final"  # the ml.forecast call, split into fit / forecast / reconciliation
OTHER = "(rest of the stage)"


def generate(n_series: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Weekly series (``unique_id``, ``ds``, ``y``), categories and raw weekly prices
    (``unique_id``, ``ds``, ``price``, ``promo_share``) of ``n_series`` products."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range(FIRST_WEEK, periods=N_WEEKS, freq="W-MON")
    t = np.arange(N_WEEKS)
    week = ds.isocalendar().week.to_numpy().astype(int)
    angle = 2 * np.pi * t / 52.18
    amp = rng.uniform(0.05, 0.6, (N_CATEGORIES, 1))
    phase = rng.uniform(0, 2 * np.pi, (N_CATEGORIES, 2))
    season = 1 + amp * np.sin(angle + phase[:, :1]) + 0.4 * amp * np.sin(2 * angle + phase[:, 1:])
    peak = rng.choice([0.0, 0.5, 1.5], size=(N_CATEGORIES, 1), p=[0.5, 0.3, 0.2])
    season = season * (1 + peak * np.isin(week, (47, 48, 50, 51)))

    cat = rng.integers(0, N_CATEGORIES, n_series)
    level = np.exp(rng.normal(1.0, 1.6, (n_series, 1)))  # median 2.7 units a week, tails to 1000s
    trend = np.clip(1 + rng.normal(0, 0.003, (n_series, 1)) * t, 0.2, None)
    base_price = np.exp(rng.normal(2.5, 0.8, (n_series, 1)))
    raise_week = np.where(rng.random(n_series) < 0.3, rng.integers(0, N_WEEKS, n_series), N_WEEKS)
    list_price = base_price * np.where(t >= raise_week[:, None], rng.uniform(1.05, 1.15), 1.0)
    promo_rate = rng.uniform(0.0, 0.15, (n_series, 1))
    promo = rng.random((n_series, N_WEEKS)) < promo_rate
    discount = np.where(promo, rng.uniform(0.1, 0.35, (n_series, N_WEEKS)), 0.0)
    promo_share = np.where(promo, rng.integers(3, 8, (n_series, N_WEEKS)) / 7, 0.0)
    mu = level * season[cat] * trend * (1 - discount) ** -2.0
    mu *= rng.gamma(5.0, 0.2, (n_series, N_WEEKS))
    end = np.where(rng.random(n_series) < 0.04, rng.integers(100, N_WEEKS, n_series), N_WEEKS)
    mu[t >= end[:, None]] = 0.0
    y = rng.poisson(mu).astype("float64")

    launch = np.where(rng.random(n_series) < 0.08, rng.integers(1, N_WEEKS - 2, n_series), 0)
    keep = (t >= launch[:, None]).ravel()
    ids = np.array([f"p{i:06d}" for i in range(n_series)], dtype=object)
    uid = np.repeat(ids, N_WEEKS)[keep]
    dates = np.tile(ds.to_numpy(), n_series)[keep]
    series = pd.DataFrame({"unique_id": uid, "ds": dates, "y": y.ravel()[keep]})
    prices = pd.DataFrame(
        {
            "unique_id": uid,
            "ds": dates,
            "price": (list_price * (1 - discount)).ravel()[keep].round(2),
            "promo_share": promo_share.ravel()[keep],
        }
    )
    categories = pd.DataFrame({"unique_id": ids, "category": [f"cat{c:02d}" for c in cat]})
    return series, categories, prices


@dataclass
class Meter:
    """Exclusive wall time and peak RSS of (stage, component) frames on a stack."""

    stack: list[tuple[str, str]] = field(default_factory=list)
    seconds: dict[tuple[str, str], float] = field(default_factory=dict)
    cpu: dict[tuple[str, str], float] = field(default_factory=dict)
    calls: dict[tuple[str, str], int] = field(default_factory=dict)
    peak: dict[tuple[str, str], int] = field(default_factory=dict)
    _since: float = 0.0
    _cpu_since: float = 0.0
    _maxrss: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self._maxrss = _ru_maxrss()
        threading.Thread(target=self._sample, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            with contextlib.suppress(IndexError):  # the stack may empty between two reads
                self._note(self.stack[-1], _vm_rss())

    def _note(self, key: tuple[str, str], rss: int) -> None:
        with self._lock:
            if rss > self.peak.get(key, 0):
                self.peak[key] = rss

    def _switch(self) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        if self.stack:
            key = self.stack[-1]
            self.seconds[key] = self.seconds.get(key, 0.0) + now - self._since
            self.cpu[key] = self.cpu.get(key, 0.0) + cpu - self._cpu_since
            self._note(key, _vm_rss())
            maxrss = _ru_maxrss()
            if maxrss > self._maxrss:  # the process peak happened in this frame
                self._note(key, maxrss)
            self._maxrss = maxrss
        self._since, self._cpu_since = now, cpu

    @contextlib.contextmanager
    def frame(self, component: str, stage: str | None = None) -> Iterator[None]:
        """Enter ``component``; ``stage`` relabels it inside the final forecast only (or starts
        a stage at the top level)."""
        if not self.stack:
            key = (stage or component, OTHER)
        elif stage is not None and self.stack[0][0] == FINAL:
            key = (stage, component)
        else:
            key = (self.stack[-1][0], component)
        self._switch()
        self.stack.append(key)
        self.calls[key] = self.calls.get(key, 0) + 1
        try:
            yield
        finally:
            self._switch()
            self.stack.pop()

    def wrap(self, fn: Callable, component: str | Callable, stage: str | None = None):
        @functools.wraps(fn)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            name = component(*args, **kwargs) if callable(component) else component
            with self.frame(name, stage):
                return fn(*args, **kwargs)

        return wrapped


def _vm_rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _ru_maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@contextlib.contextmanager
def instrumented(meter: Meter) -> Iterator[None]:
    """Wrap the library calls that the breakdown names, restoring them afterwards."""
    import lightgbm
    import xgboost
    from mlforecast import MLForecast

    backtest, engine, gbm, models, prophet_model, tuning = (
        importlib.import_module(f"forecast_pipeline.ml.{name}")
        for name in ("backtest", "engine", "gbm", "models", "prophet_model", "tuning")
    )

    def baselines_name(train: pd.DataFrame, spec: Any, names: Any = (), **_: Any) -> str:
        return "AutoETS + naive (aggregates)" if "auto_ets" in names else "statsforecast baselines"

    patches: list[tuple[Any, str, str | Callable, str | None]] = [
        (backtest, "base_forecasts", "base forecasts (other)", None),
        (engine, "base_forecasts", "base forecasts (other)", "fit"),
        (models, "baseline_forecasts", baselines_name, None),
        (models, "gbm_forecasts", "global models: data prep + exogenous", None),
        (tuning, "gbm_forecasts", "global models: data prep + exogenous", None),
        (gbm, "future_exogenous", "future exogenous features", None),
        (prophet_model, "prophet_forecasts", "Prophet (aggregates)", None),
        (MLForecast, "preprocess", "mlforecast features (preprocess)", None),
        (lightgbm.LGBMRegressor, "fit", "LightGBM training", None),
        (xgboost.XGBRegressor, "fit", "XGBoost training", None),
        (MLForecast, "predict", "mlforecast recursive predict", "forecast"),
        (engine, "fit_level_weights", "ensemble weights (SLSQP)", None),
        (engine, "_cold_start", "cold start", None),
        (engine, "_middle_out", "reconciliation", "reconciliation"),
        (engine, "reconcile", "reconciliation", "reconciliation"),
        (engine, "calibrate", "interval calibration", None),
        (engine, "level_scales", "interval scales", None),
        (engine, "origin_scales", "interval scales", None),
        (engine, "add_intervals", "intervals", None),
        (engine, "score_predictions", "scoring", None),
    ]
    saved = []
    for owner, name, component, stage in patches:
        if not hasattr(owner, name):  # renamed in the library: its time goes to the caller
            print(f"not instrumented: {owner.__name__}.{name}", file=sys.stderr)
            continue
        saved.append((owner, name, owner.__dict__.get(name)))
        setattr(owner, name, meter.wrap(getattr(owner, name), component, stage))
    try:
        yield
    finally:
        for owner, name, original in reversed(saved):
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


def build_features(series: pd.DataFrame, categories: pd.DataFrame, prices: pd.DataFrame, spec):
    """Exogenous frame (relative price as ``ml.period_prices`` computes it) and mlforecast's
    feature matrix of every product (its size is returned, the matrix is dropped)."""
    from forecast_pipeline import ml
    from forecast_pipeline.ml.backtest import check_series
    from forecast_pipeline.ml.exogenous import PRICE_FEATURES, relative_price
    from forecast_pipeline.ml.gbm import build_mlforecast

    series = check_series(series)
    out = prices.sort_values(["unique_id", "ds"], ignore_index=True)
    out["relative_price"] = relative_price(out)
    exog = ml.Exogenous(per_series=out[["unique_id", "ds", *PRICE_FEATURES]])
    frame = exog.training_frame(series)
    names = sorted(categories["category"].unique())
    codes = categories.set_index("unique_id")["category"].map(
        {name: float(i) for i, name in enumerate(names)}
    )
    frame["category_code"] = frame["unique_id"].map(codes).fillna(-1.0)  # as gbm.py codes them
    with warnings.catch_warnings():  # series shorter than the seasonal lag, as in gbm.py
        warnings.filterwarnings("ignore", message="The following series were dropped")
        matrix = build_mlforecast(spec).preprocess(frame, static_features=["category_code"])
    shape = matrix.shape
    del matrix, frame
    return series, exog, shape


def run_size(args: argparse.Namespace) -> dict[str, Any]:
    """One catalogue size, in this process; returns the figures as a JSON-able dict."""
    from forecast_pipeline import ml

    meter = Meter()
    baseline_rss = _vm_rss()
    started = time.perf_counter()
    series, categories, prices = generate(args.worker, seed=args.seed)
    generate_seconds = time.perf_counter() - started
    spec = ml.ForecastSpec(
        n_windows=args.windows,
        max_train_steps=args.max_train_steps,
        product_models=tuple(args.product_models),
        aggregate_models=tuple(args.aggregate_models),
    )
    info: dict[str, Any] = {
        "series": args.worker,
        "rows": len(series),
        "zero_share": float((series["y"] == 0).mean()),
        "generate_seconds": generate_seconds,
        "baseline_rss": baseline_rss,
    }
    meter.start()
    try:
        with instrumented(meter):
            with meter.frame("features"):
                series, exog, shape = build_features(series, categories, prices, spec)
            info["feature_matrix"] = list(shape)
            params: dict[str, Any] = {}
            if args.trials > 0:
                with meter.frame("tuning"):
                    budget = ml.TuningBudget(
                        n_trials=args.trials,
                        timeout_seconds=args.tuning_seconds,
                        max_series=args.tuning_series,
                        n_windows=args.tuning_windows,
                        seed=args.seed,
                    )
                    tuned = ml.tune(
                        series, spec, budget, "lightgbm", categories=categories, exog=exog
                    )
                params = {"lightgbm": tuned.params}
                info["tuning"] = {
                    "trials": len(tuned.trials),
                    "complete": tuned.n_complete,
                    "pruned": tuned.n_pruned,
                    "default_wape": tuned.default_wape,
                    "best_wape": tuned.best_wape,
                    "params": tuned.params,
                }
            inputs = ml.ModelInputs(categories=categories, exog=exog, params=params)
            with meter.frame("backtest"):
                result = ml.backtest(series, spec, inputs)
            with meter.frame("ensemble"):
                model = ml.fit_ensemble(result, spec, categories)
            if args.evaluate:
                with meter.frame("evaluate"):
                    evaluation = ml.evaluate(result, spec, categories)
                board = evaluation.leaderboard("product")
                info["product_wape"] = dict(zip(board["model"], board["wape"], strict=True))
            del result
            with meter.frame(FINAL):
                fcst = ml.forecast(series, spec, inputs, model)
            info["forecast_rows"] = len(fcst.steps)
    finally:
        meter.stop()
    info["maxrss"] = _ru_maxrss()
    info["frames"] = [
        {
            "stage": "forecast" if stage == FINAL else stage,
            "component": component,
            "calls": meter.calls.get((stage, component), 0),
            "seconds": seconds,
            "cpu": meter.cpu.get((stage, component), 0.0),
            "peak": meter.peak.get((stage, component), 0),
        }
        for (stage, component), seconds in meter.seconds.items()
    ]
    return info


def print_size(info: dict[str, Any]) -> float:
    frames = pd.DataFrame(info["frames"])
    stages = frames.groupby("stage").agg(
        seconds=("seconds", "sum"), cpu=("cpu", "sum"), peak=("peak", "max")
    )
    stages = stages.reindex([s for s in STAGES if s in stages.index])
    total = float(stages["seconds"].sum())
    n = info["series"]
    print(
        f"\n== {n:,} series x {N_WEEKS} weeks ({info['rows']:,} rows, "
        f"{info['zero_share']:.0%} zero weeks; generated in {info['generate_seconds']:.1f} s, "
        f"not counted) =="
    )
    print(f"{'stage':16s} {'seconds':>9s} {'share':>6s} {'CPU s':>8s} {'peak RSS GB':>12s}")
    for stage, row in stages.iterrows():
        share = row["seconds"] / total
        print(
            f"{stage:16s} {row['seconds']:9.1f} {share:6.1%} {row['cpu']:8.1f} "
            f"{row['peak'] / 1e9:12.2f}"
        )
    peak = info["maxrss"] / 1e9
    cpu = stages["cpu"].sum()
    print(f"{'total':16s} {total:9.1f} {1:6.0%} {cpu:8.1f} {peak:12.2f}  (process ru_maxrss)")
    goal = GOALS.get(n)
    if goal is not None:
        verdict = "met" if total <= goal and peak <= MEMORY_GOAL_GB else "MISSED"
        print(f"goal: {goal / 60:.0f} min and {MEMORY_GOAL_GB:.0f} GB -> {verdict}")
    print(
        f"RSS after imports {info['baseline_rss'] / 1e9:.2f} GB; mlforecast feature matrix "
        f"{info['feature_matrix'][0]:,} x {info['feature_matrix'][1]}; "
        f"forecast rows {info['forecast_rows']:,}"
    )
    if "tuning" in info:
        tun = info["tuning"]
        print(
            f"tuning: {tun['trials']} trials ({tun['complete']} complete, {tun['pruned']} "
            f"pruned), WAPE default {tun['default_wape']:.4f} -> best {tun['best_wape']:.4f}; "
            f"n_estimators {tun['params'].get('n_estimators')}, num_leaves "
            f"{tun['params'].get('num_leaves')}"
        )
    if "product_wape" in info:
        board = ", ".join(f"{m} {w:.3f}" for m, w in info["product_wape"].items())
        print(f"product WAPE (evaluate): {board}")
    print(
        f"\n{'stage':16s} {'component':40s} {'calls':>5s} {'seconds':>9s} {'CPU s':>8s} "
        f"{'peak GB':>8s}"
    )
    frames["order"] = frames["stage"].map({s: i for i, s in enumerate(STAGES)})
    frames = frames.sort_values(["order", "seconds"], ascending=[True, False])
    for row in frames.itertuples():
        if row.seconds >= max(0.1, 0.002 * total):
            print(
                f"{row.stage:16s} {row.component:40s} {row.calls:5d} {row.seconds:9.1f} "
                f"{row.cpu:8.1f} {row.peak / 1e9:8.2f}"
            )
    return total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=None)
    parser.add_argument("--trials", type=int, default=20, help="0 skips tuning")
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--tuning-seconds", type=float, default=600.0)
    parser.add_argument(
        "--tuning-series", type=int, default=None, help="products sampled (default: TuningBudget)"
    )
    parser.add_argument(
        "--tuning-windows",
        type=int,
        default=None,
        help="backtest windows per trial (default: TuningBudget)",
    )
    parser.add_argument("--max-train-steps", type=int, default=None)
    parser.add_argument(
        "--product-models",
        nargs="+",
        default=["seasonal_naive", "moving_average", "tsb", "lightgbm", "xgboost"],
    )
    parser.add_argument(
        "--aggregate-models", nargs="+", default=["seasonal_naive", "auto_ets", "prophet"]
    )
    parser.add_argument("--evaluate", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--omp-wait-policy",
        choices=["active", "passive"],
        default=None,
        help="OMP_WAIT_POLICY of the size processes (default: inherited)",
    )
    parser.add_argument("--quick", action="store_true", help="1,000 series, 3 trials, 60 s")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.sizes = args.sizes or [1000]
        args.trials, args.tuning_seconds = min(args.trials, 3), min(args.tuning_seconds, 60.0)
    from forecast_pipeline.ml.tuning import TuningBudget  # defaults only; no model code runs here

    args.tuning_series = args.tuning_series or TuningBudget().max_series
    args.tuning_windows = args.tuning_windows or TuningBudget().n_windows
    if args.worker is not None:
        print(json.dumps(run_size(args)))
        return
    sizes = args.sizes or [1000, 10_000, 100_000]
    env = dict(os.environ)
    if args.omp_wait_policy:
        env["OMP_WAIT_POLICY"] = args.omp_wait_policy.upper()
    print(
        f"{os.cpu_count()} cores; {args.trials} tuning trials (budget {args.tuning_seconds:.0f} s, "
        f"{args.tuning_series:,}-product sample, {args.tuning_windows} windows), "
        f"{args.windows} backtest windows, max_train_steps "
        f"{args.max_train_steps}; product models {' '.join(args.product_models)}; aggregate "
        f"models {' '.join(args.aggregate_models)}; evaluate {args.evaluate}; "
        f"OMP_WAIT_POLICY {env.get('OMP_WAIT_POLICY', 'unset')}; load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    totals = {}
    for n in sizes:
        command = [sys.executable, __file__, *sys.argv[1:], "--worker", str(n)]
        started = time.perf_counter()
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True, env=env)
        info = json.loads(done.stdout.strip().splitlines()[-1])
        totals[n] = (print_size(info), info["maxrss"], time.perf_counter() - started)
        print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        sys.stdout.flush()
    print(f"\n{'series':>8s} {'stages s':>9s} {'process s':>10s} {'peak GB':>8s}")
    for n, (total, maxrss, wall) in totals.items():
        print(f"{n:8,d} {total:9.1f} {wall:10.1f} {maxrss / 1e9:8.2f}")


if __name__ == "__main__":
    main()
