from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast_pipeline.ml.reconciliation import (
    RECONCILIATION_METHODS,
    aggregate_levels,
    reconcile,
)

CUTOFFS = pd.to_datetime(["2024-01-01", "2024-02-05"])
N_DATES = 5
LEVEL_ORDER = {"product": 0, "category": 1, "total": 2}


def _hierarchy(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """3 categories of 2-6 products, 2 cutoffs x 5 dates, incoherent base forecasts."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 7, size=3)
    categories = pd.DataFrame(
        [
            {"unique_id": f"{cat}{i}", "category": f"cat_{cat}"}
            for cat, size in zip("abc", sizes, strict=True)
            for i in range(size)
        ]
    )
    rows = []
    for cutoff in CUTOFFS:
        for ds in pd.date_range(cutoff + pd.Timedelta(weeks=1), periods=N_DATES, freq="7D"):
            products = rng.uniform(5, 50, size=len(categories))
            rows += [
                ("product", uid, cutoff, ds, value)
                for uid, value in zip(categories["unique_id"], products, strict=True)
            ]
            sums = pd.Series(products).groupby(categories["category"].to_numpy()).sum()
            rows += [
                ("category", cat, cutoff, ds, value * rng.uniform(0.7, 1.3))
                for cat, value in sums.items()
            ]
            rows.append(("total", "total", cutoff, ds, products.sum() * rng.uniform(0.7, 1.3)))
    forecasts = pd.DataFrame(rows, columns=["level", "unique_id", "cutoff", "ds", "yhat"])
    return forecasts, categories


def _random_variances(forecasts: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    nodes = forecasts[["level", "unique_id"]].drop_duplicates().reset_index(drop=True)
    rng = np.random.default_rng(seed)
    return nodes.assign(variance=rng.uniform(0.1, 20.0, size=len(nodes)))


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    keys = [k for k in ("cutoff", "ds") if k in frame.columns]
    return (
        frame.assign(_order=frame["level"].map(LEVEL_ORDER))
        .sort_values(["_order", "unique_id", *keys])
        .drop(columns="_order")
        .reset_index(drop=True)
    )


def _assert_coherent(out: pd.DataFrame, categories: pd.DataFrame) -> None:
    products = out[out["level"] == "product"].drop(columns="level")
    summed = aggregate_levels(products, categories, ["yhat"])
    np.testing.assert_allclose(out["yhat"], summed["yhat"], rtol=1e-12, atol=1e-9)
    pd.testing.assert_frame_equal(out.drop(columns="yhat"), summed.drop(columns="yhat"))


def _dense(
    forecasts: pd.DataFrame, categories: pd.DataFrame, variances: pd.DataFrame
) -> pd.DataFrame:
    """y~ = S (S' W^-1 S)^-1 S' W^-1 yhat per (cutoff, ds) with a dense S."""
    var = variances.set_index(["level", "unique_id"])["variance"]
    out = []
    for _, part in forecasts.groupby(["cutoff", "ds"]):
        products = part[part["level"] == "product"]["unique_id"].tolist()
        cats = categories.set_index("unique_id")["category"].loc[products]
        cat_names = sorted(cats.unique())
        s = np.vstack(
            [
                np.eye(len(products)),
                (cats.to_numpy()[None, :] == np.array(cat_names)[:, None]).astype(float),
                np.ones((1, len(products))),
            ]
        )
        nodes = (
            [("product", p) for p in products]
            + [("category", c) for c in cat_names]
            + [("total", "total")]
        )
        yhat = part.set_index(["level", "unique_id"])["yhat"].loc[nodes].to_numpy()
        w_inv = np.diag(1.0 / var.loc[nodes].to_numpy())
        g = np.linalg.solve(s.T @ w_inv @ s, s.T @ w_inv)
        frame = pd.DataFrame(nodes, columns=["level", "unique_id"])
        out.append(
            frame.assign(cutoff=part["cutoff"].iloc[0], ds=part["ds"].iloc[0], yhat=s @ g @ yhat)
        )
    return _sorted(pd.concat(out, ignore_index=True))


@pytest.mark.parametrize("method", RECONCILIATION_METHODS)
def test_every_method_returns_coherent_forecasts(method: str) -> None:
    forecasts, categories = _hierarchy()
    variances = _random_variances(forecasts)
    out = reconcile(forecasts, categories, method=method, variances=variances)
    assert len(out) == len(forecasts)
    _assert_coherent(out, categories)
    # the input was not coherent, so something moved
    assert not np.allclose(out["yhat"], _sorted(forecasts)["yhat"])


def _hf_frames(forecasts: pd.DataFrame, categories: pd.DataFrame):
    """S_df and tags of hierarchicalforecast for the same hierarchy (unique ids are distinct)."""
    products = categories["unique_id"].tolist()
    cat_names = sorted(categories["category"].unique())
    s = np.vstack(
        [
            np.ones((1, len(products))),
            (categories["category"].to_numpy()[None, :] == np.array(cat_names)[:, None]),
            np.eye(len(products)),
        ]
    ).astype(float)
    s_df = pd.DataFrame(s, columns=products).assign(unique_id=["total", *cat_names, *products])
    s_df = s_df[["unique_id", *products]]
    tags = {
        "total": np.array(["total"]),
        "total/category": np.array(cat_names),
        "total/category/product": np.array(products),
    }
    return s_df, tags


def test_wls_struct_and_bottom_up_match_hierarchicalforecast() -> None:
    pytest.importorskip("hierarchicalforecast")
    from hierarchicalforecast.core import HierarchicalReconciliation
    from hierarchicalforecast.methods import BottomUp, MinTrace

    forecasts, categories = _hierarchy(seed=3)
    s_df, tags = _hf_frames(forecasts, categories)
    hrec = HierarchicalReconciliation([MinTrace(method="wls_struct"), BottomUp()])
    expected = []
    for cutoff, part in forecasts.groupby("cutoff"):
        y_hat = part[["unique_id", "ds", "yhat"]].reset_index(drop=True)
        rec = hrec.reconcile(Y_hat_df=y_hat, S_df=s_df, tags=tags)
        expected.append(rec.assign(cutoff=cutoff))
    expected = pd.concat(expected, ignore_index=True)
    expected = forecasts[["level", "unique_id", "cutoff", "ds"]].merge(
        expected, on=["unique_id", "cutoff", "ds"], validate="1:1"
    )
    expected = _sorted(expected)

    for method, column in [
        ("wls_struct", "yhat/MinTrace_method-wls_struct"),
        ("bottom_up", "yhat/BottomUp"),
    ]:
        out = reconcile(forecasts, categories, method=method, non_negative=False)
        pd.testing.assert_frame_equal(
            out.drop(columns="yhat"), expected[["level", "unique_id", "cutoff", "ds"]]
        )
        np.testing.assert_allclose(out["yhat"], expected[column], rtol=1e-8, atol=1e-8)


def test_wls_var_matches_dense_minimum_trace() -> None:
    forecasts, categories = _hierarchy(seed=5)
    variances = _random_variances(forecasts, seed=6)
    out = reconcile(
        forecasts, categories, method="wls_var", variances=variances, non_negative=False
    )
    expected = _dense(forecasts, categories, variances)
    pd.testing.assert_frame_equal(out.drop(columns="yhat"), expected.drop(columns="yhat"))
    np.testing.assert_allclose(out["yhat"], expected["yhat"], rtol=1e-8, atol=1e-8)


def test_node_with_tiny_variance_keeps_its_forecast() -> None:
    forecasts, categories = _hierarchy(seed=7)
    variances = _random_variances(forecasts)
    trusted = {("product", "a0"), ("total", "total")}
    is_trusted = [
        key in trusted for key in zip(variances["level"], variances["unique_id"], strict=True)
    ]
    variances.loc[is_trusted, "variance"] = 1e-9
    out = reconcile(forecasts, categories, method="wls_var", variances=variances)
    base = _sorted(forecasts)
    for level, uid in trusted:
        mask = (out["level"] == level) & (out["unique_id"] == uid)
        np.testing.assert_allclose(out.loc[mask, "yhat"], base.loc[mask, "yhat"], rtol=1e-6)
    # the untrusted nodes did move (by several units)
    moved = (out["yhat"] - base["yhat"]).abs()
    assert moved[(out["level"] == "category")].max() > 1.0


@pytest.mark.parametrize("method", RECONCILIATION_METHODS)
def test_coherent_input_is_returned_unchanged(method: str) -> None:
    forecasts, categories = _hierarchy(seed=2)
    products = forecasts[forecasts["level"] == "product"].drop(columns="level")
    coherent = aggregate_levels(products, categories, ["yhat"]).sample(frac=1.0, random_state=0)
    variances = _random_variances(forecasts)
    out = reconcile(coherent, categories, method=method, variances=variances)
    expected = aggregate_levels(products, categories, ["yhat"])
    pd.testing.assert_frame_equal(out, expected, rtol=1e-12)


def test_non_negative_clips_products_and_stays_coherent() -> None:
    categories = pd.DataFrame({"unique_id": ["a0", "a1", "b0"], "category": ["A", "A", "B"]})
    ds = pd.Timestamp("2024-03-04")
    forecasts = pd.DataFrame(
        {
            "level": ["product"] * 3 + ["category"] * 2 + ["total"],
            "unique_id": ["a0", "a1", "b0", "A", "B", "total"],
            "ds": ds,
            "yhat": [0.5, 20.0, 10.0, 6.0, 10.0, 16.0],
        }
    )
    raw = reconcile(forecasts, categories, method="wls_struct", non_negative=False)
    products = raw[raw["level"] == "product"].set_index("unique_id")["yhat"]
    assert products["a0"] < -1.0  # wls pushes the small product below zero

    out = reconcile(forecasts, categories, method="wls_struct")
    clipped = out[out["level"] == "product"].set_index("unique_id")["yhat"]
    assert (clipped >= 0).all()
    assert clipped["a0"] == 0.0
    assert clipped[["a1", "b0"]].tolist() == pytest.approx(products[["a1", "b0"]].tolist())
    assert out["yhat"].tolist()[3:] == pytest.approx(
        [clipped["a1"], clipped["b0"], clipped["a1"] + clipped["b0"]]
    )


def test_products_missing_from_categories_go_to_unknown() -> None:
    categories = pd.DataFrame({"unique_id": ["a0"], "category": ["A"]})
    ds = pd.Timestamp("2024-03-04")
    forecasts = pd.DataFrame(
        {
            "level": ["product", "product", "category", "category", "total"],
            "unique_id": ["a0", "x9", "A", "unknown", "total"],
            "ds": ds,
            "yhat": [10.0, 4.0, 12.0, 3.0, 14.0],
        }
    )
    out = reconcile(forecasts, categories, method="bottom_up")
    assert out["unique_id"].tolist() == ["a0", "x9", "A", "unknown", "total"]
    assert out["yhat"].tolist() == [10.0, 4.0, 10.0, 4.0, 14.0]

    without_unknown = forecasts[forecasts["unique_id"] != "unknown"]
    with pytest.raises(ValueError, match="category 'unknown' has products but no forecast"):
        reconcile(without_unknown, categories, method="bottom_up")


def test_products_present_in_some_dates_only() -> None:
    forecasts, categories = _hierarchy(seed=4)
    late = (forecasts["unique_id"] == "b1") & (forecasts["ds"] < forecasts["ds"].max())
    forecasts = forecasts[~late]
    variances = _random_variances(forecasts)
    out = reconcile(
        forecasts, categories, method="wls_var", variances=variances, non_negative=False
    )
    _assert_coherent(out, categories)
    expected = _dense(forecasts, categories, variances)
    np.testing.assert_allclose(out["yhat"], expected["yhat"], rtol=1e-8, atol=1e-8)
    assert (out["unique_id"] == "b1").sum() == 1


def test_missing_variances_fall_back_to_the_level_median_per_product() -> None:
    forecasts, categories = _hierarchy(seed=8)
    forecasts = forecasts[forecasts["cutoff"] == CUTOFFS[0]]
    variances = _random_variances(forecasts)
    is_cat = variances["level"] == "category"
    size = variances["unique_id"].map(categories["category"].value_counts())
    explicit = variances.copy()
    # category cat_a has no usable variance: median of variance / size of the others, times size
    others = is_cat & (variances["unique_id"] != "cat_a")
    ratio = float(np.median(variances.loc[others, "variance"] / size[others]))
    explicit.loc[variances["unique_id"] == "cat_a", "variance"] = (
        ratio * size[is_cat & ~others].iloc[0]
    )
    variances.loc[variances["unique_id"] == "cat_a", "variance"] = -1.0

    with pytest.warns(UserWarning, match="1 of .* nodes have no usable variance"):
        out = reconcile(forecasts, categories, method="wls_var", variances=variances)
    expected = reconcile(forecasts, categories, method="wls_var", variances=explicit)
    np.testing.assert_allclose(out["yhat"], expected["yhat"], rtol=1e-12)


def test_aggregate_levels_sums_products_into_categories_and_total() -> None:
    categories = pd.DataFrame({"unique_id": ["a0", "a1", "b0"], "category": ["A", "A", "B"]})
    ds = pd.to_datetime(["2024-03-04", "2024-03-11"])
    frame = pd.DataFrame(
        {
            "unique_id": ["b0", "a0", "a1", "z1", "a0", "a1"],
            "ds": [ds[0], ds[0], ds[0], ds[0], ds[1], ds[1]],
            "y": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "step": 1,
        }
    )
    out = aggregate_levels(frame, categories, ["y"])
    assert out.columns.tolist() == ["level", "unique_id", "ds", "y"]
    got = list(out[["level", "unique_id", "y"]].itertuples(index=False, name=None))
    assert got == [
        ("product", "a0", 2.0),
        ("product", "a0", 5.0),
        ("product", "a1", 3.0),
        ("product", "a1", 6.0),
        ("product", "b0", 1.0),
        ("product", "z1", 4.0),
        ("category", "A", 5.0),
        ("category", "A", 11.0),
        ("category", "B", 1.0),
        ("category", "unknown", 4.0),
        ("total", "total", 10.0),
        ("total", "total", 11.0),
    ]


def _small() -> tuple[pd.DataFrame, pd.DataFrame]:
    forecasts, categories = _hierarchy(seed=9)
    return forecasts[forecasts["cutoff"] == CUTOFFS[0]].reset_index(drop=True), categories


def test_unknown_method_is_rejected() -> None:
    forecasts, categories = _small()
    with pytest.raises(ValueError, match="unknown method 'ols'"):
        reconcile(forecasts, categories, method="ols")


def test_unknown_level_is_rejected() -> None:
    forecasts, categories = _small()
    forecasts.loc[0, "level"] = "store"
    with pytest.raises(ValueError, match=r"unknown level\(s\) \['store'\]"):
        reconcile(forecasts, categories, method="bottom_up")


def test_missing_forecast_columns_are_rejected() -> None:
    forecasts, categories = _small()
    with pytest.raises(ValueError, match=r"forecasts frame is missing columns \['level'\]"):
        reconcile(forecasts.drop(columns="level"), categories, method="bottom_up")
    with pytest.raises(ValueError, match=r"forecasts frame is missing columns \['y'\]"):
        reconcile(forecasts, categories, method="bottom_up", value_col="y")


def test_categories_frame_without_category_column_is_rejected() -> None:
    forecasts, categories = _small()
    with pytest.raises(ValueError, match=r"categories frame is missing columns \['category'\]"):
        reconcile(forecasts, categories.drop(columns="category"), method="bottom_up")


def test_duplicated_rows_are_rejected() -> None:
    forecasts, categories = _small()
    doubled = pd.concat([forecasts, forecasts.iloc[[3]]], ignore_index=True)
    uid = forecasts.loc[3, "unique_id"]
    with pytest.raises(
        ValueError, match=f"duplicated rows, e.g. level 'product', unique_id '{uid}'"
    ):
        reconcile(doubled, categories, method="bottom_up")


def test_category_with_products_but_no_forecast_is_rejected() -> None:
    forecasts, categories = _small()
    first = forecasts["ds"].min()
    drop = (forecasts["unique_id"] == "cat_b") & (forecasts["ds"] == first)
    with pytest.raises(
        ValueError,
        match=f"category 'cat_b' has products but no forecast at cutoff=.*, ds={first}",
    ):
        reconcile(forecasts[~drop], categories, method="bottom_up")


def test_category_forecast_without_products_is_rejected() -> None:
    forecasts, categories = _small()
    last = forecasts["ds"].max()
    drop = (forecasts["level"] == "product") & forecasts["unique_id"].str.startswith("c")
    drop &= forecasts["ds"] == last
    with pytest.raises(
        ValueError, match=f"category 'cat_c' has a forecast but no products at .*ds={last}"
    ):
        reconcile(forecasts[~drop], categories, method="bottom_up")


def test_missing_total_is_rejected() -> None:
    forecasts, categories = _small()
    last = forecasts["ds"].max()
    drop = (forecasts["level"] == "total") & (forecasts["ds"] == last)
    with pytest.raises(ValueError, match=f"no 'total' forecast at .*ds={last}"):
        reconcile(forecasts[~drop], categories, method="bottom_up")


def test_total_with_another_unique_id_is_rejected() -> None:
    forecasts, categories = _small()
    forecasts.loc[forecasts["level"] == "total", "unique_id"] = "all"
    with pytest.raises(ValueError, match=r"total rows must have unique_id 'total', got \['all'\]"):
        reconcile(forecasts, categories, method="bottom_up")


def test_non_finite_values_are_rejected() -> None:
    forecasts, categories = _small()
    forecasts.loc[forecasts["unique_id"] == "cat_a", "yhat"] = np.nan
    with pytest.raises(ValueError, match=r"non-finite 'yhat' values, e\.g\. level 'category'"):
        reconcile(forecasts, categories, method="wls_struct")


def test_wls_var_needs_variances() -> None:
    forecasts, categories = _small()
    with pytest.raises(ValueError, match="method 'wls_var' needs variances"):
        reconcile(forecasts, categories, method="wls_var")
    variances = _random_variances(forecasts)
    with pytest.raises(ValueError, match="variances has duplicated rows for level 'total'"):
        reconcile(
            forecasts,
            categories,
            method="wls_var",
            variances=pd.concat([variances, variances.tail(1)]),
        )


def test_missing_dates_are_rejected() -> None:
    forecasts, categories = _small()
    forecasts["ds"] = forecasts["ds"].where(forecasts.index != 4)
    with pytest.raises(ValueError, match="forecasts has missing values in 'ds'"):
        reconcile(forecasts, categories, method="bottom_up")


def test_aggregate_levels_rejects_duplicated_products() -> None:
    forecasts, categories = _small()
    products = forecasts[forecasts["level"] == "product"].drop(columns="level")
    doubled = pd.concat([products, products.iloc[[0]]], ignore_index=True)
    uid = products["unique_id"].iloc[0]
    with pytest.raises(ValueError, match=f"frame has duplicated rows, e.g. unique_id '{uid}'"):
        aggregate_levels(doubled, categories, ["yhat"])
