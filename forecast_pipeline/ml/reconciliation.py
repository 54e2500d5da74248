"""Coherent forecasts for the product -> category -> total hierarchy.

The hierarchy has three levels: ``product`` (the bottom series, ``unique_id`` = product id),
``category`` (``unique_id`` = category name, from the ``categories`` frame; products missing
from it belong to ``"unknown"``) and ``total`` (``unique_id`` = ``"total"``). Forecasts are
*coherent* when, for every (``cutoff``, ``ds``), the products of each category sum to the
category and the categories sum to the total.

Methods (:data:`RECONCILIATION_METHODS`), with ``S`` the summing matrix (nodes x products) and
``yhat`` the base forecasts of all nodes of one (``cutoff``, ``ds``) slice:

* ``bottom_up``: products keep their forecast; categories and the total become sums.
* ``wls_struct`` and ``wls_var``: weighted least squares (MinTrace with a diagonal ``W``),
  ``b~ = (S' W^-1 S)^-1 S' W^-1 yhat`` for the products and ``S b~`` for every node.
  ``wls_struct`` weighs each node by the number of products under it in the slice (1 for a
  product), as ``MinTrace(method="wls_struct")`` of hierarchicalforecast. ``wls_var`` uses the
  given variance of each node's base forecast (e.g. its backtest MSE): a node with a small
  variance moves little, a noisy one absorbs most of the adjustment.

Computation. ``S`` is never built. With ``C`` the coherency constraints (one per category:
category minus the sum of its products; one for the total: total minus the sum of the
categories), the same solution is the projection ``y~ = yhat - W C' (C W C')^-1 C yhat``.
``C W C'`` is a (categories + 1) square arrowhead matrix (diagonal ``w_c + sum of the w of the
category's products``, last row and column ``-w_c``, corner ``w_total + sum w_c``) solved in
closed form, so everything reduces to per-(slice, category) sums: time and memory are linear
in the number of forecast rows plus slices x categories, for all slices at once. (The Woodbury
expansion of ``(S' W^-1 S)^-1`` leads to the same small system but divides by the weights,
which loses precision exactly when a node is trusted, i.e. has a tiny variance.)

Slices. Each (``cutoff``, ``ds``) is reconciled over the products present in it (a product
launched later is simply absent from earlier dates). The structure must be complete in every
slice: one ``total`` row, a ``category`` row for each category that has products in the slice,
and no category row without products; anything else is rejected with the node named.

Non-negativity. With ``non_negative=True`` the reconciled products are clipped at 0 and the
categories and the total are recomputed as their sums, so the result stays coherent (this is
not the constrained least squares optimum; it only moves the few negative products).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast_pipeline.ml.metrics import LEVELS, UNKNOWN_CATEGORY, attach_categories

__all__ = ["RECONCILIATION_METHODS", "aggregate_levels", "reconcile"]

RECONCILIATION_METHODS: tuple[str, ...] = ("wls_struct", "wls_var", "bottom_up")
_TOTAL_ID = "total"
_PRODUCT, _CATEGORY, _TOTAL = range(3)  # positions in LEVELS


@dataclass(frozen=True)
class _Tree:
    """Row positions and codes of one forecasts frame, grouped by level."""

    slices: pd.DataFrame  # one row per slice (``cutoff``, ``ds`` or ``ds``), in sorted order
    products: pd.Index  # sorted product ids
    product_category: np.ndarray  # category code of each product
    categories: pd.Index  # sorted category names
    rows: tuple[np.ndarray, np.ndarray, np.ndarray]  # row positions of each level
    slice_of: tuple[np.ndarray, np.ndarray, np.ndarray]  # slice code of each of those rows
    node_of: tuple[np.ndarray, np.ndarray, np.ndarray]  # product / category code (0 for total)
    counts: np.ndarray  # (n_slices, n_categories) number of products in each slice and category

    def category_of_products(self) -> np.ndarray:
        return self.product_category[self.node_of[_PRODUCT]]

    def flat(self) -> np.ndarray:
        """(slice, category) cell of each product row, as a flat index."""
        return self.slice_of[_PRODUCT] * len(self.categories) + self.category_of_products()


def reconcile(
    forecasts: pd.DataFrame,
    categories: pd.DataFrame,
    *,
    method: str = "wls_var",
    variances: pd.DataFrame | None = None,
    value_col: str = "yhat",
    non_negative: bool = True,
) -> pd.DataFrame:
    """Make forecasts of all three levels coherent (see the module docstring for the methods).

    Args:
        forecasts: ``level`` (one of ``product``, ``category``, ``total``), ``unique_id``,
            ``ds``, ``value_col`` and optionally ``cutoff``; each (``cutoff``, ``ds``) is
            reconciled separately. One row per (``level``, ``unique_id``, [``cutoff``,] ``ds``).
        categories: ``unique_id`` -> ``category`` of the products.
        method: one of :data:`RECONCILIATION_METHODS`.
        variances: for ``wls_var`` (ignored otherwise): ``level``, ``unique_id``, ``variance``,
            one row per node, used in every slice. A node without a finite, positive variance
            gets the structural weight scaled to its level: ``median(variance / size)`` over
            the level's nodes that have one, times the node's size (number of products under
            it, 1 for a product; the median is taken with each node's number of products in
            the whole frame, the weight uses its number in the slice). A level without any
            usable variance uses the median over all levels, and without any at all the
            weights of ``wls_struct``. A warning says how many nodes fell back.
        value_col: the column to reconcile.
        non_negative: clip reconciled products at 0 and re-sum the aggregates.

    Returns:
        The rows of ``forecasts`` with ``value_col`` replaced by the coherent values, sorted
        by level (product, category, total), ``unique_id``, [``cutoff``,] ``ds``, with a fresh
        index.

    Raises:
        ValueError: unknown method or level, missing columns, missing keys or non-finite values,
            duplicated rows, an incomplete hierarchy in a slice, or ``wls_var`` without
            ``variances``.
    """
    if method not in RECONCILIATION_METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {RECONCILIATION_METHODS}")
    _require(forecasts, ["level", "unique_id", "ds", value_col], "forecasts")
    tree, order = _build_tree(forecasts, categories)
    yhat = forecasts[value_col].to_numpy(dtype=float)
    if not np.isfinite(yhat).all():
        row = forecasts.iloc[int(np.flatnonzero(~np.isfinite(yhat))[0])]
        raise ValueError(
            f"forecasts has non-finite {value_col!r} values, e.g. level {row['level']!r}, "
            f"unique_id {row['unique_id']!r} at {_where(row)}"
        )

    if method == "bottom_up":
        bottom = yhat[tree.rows[_PRODUCT]]
    elif method == "wls_struct":
        bottom = _wls_bottom(tree, yhat, *_structural_weights(tree))
    elif variances is None:
        raise ValueError("method 'wls_var' needs variances (level, unique_id, variance)")
    else:
        bottom = _wls_bottom(tree, yhat, *_variance_weights(tree, variances))
    if non_negative:
        bottom = np.maximum(bottom, 0.0)

    n_slices, n_cats = tree.counts.shape
    by_category = np.bincount(tree.flat(), weights=bottom, minlength=n_slices * n_cats)
    by_category = by_category.reshape(n_slices, n_cats)
    values = np.empty(len(forecasts))
    values[tree.rows[_PRODUCT]] = bottom
    values[tree.rows[_CATEGORY]] = by_category[tree.slice_of[_CATEGORY], tree.node_of[_CATEGORY]]
    values[tree.rows[_TOTAL]] = by_category.sum(axis=1)[tree.slice_of[_TOTAL]]

    out = forecasts.take(order)
    out.index = pd.RangeIndex(len(out))
    out[value_col] = values[order]
    return out


def aggregate_levels(
    frame: pd.DataFrame, categories: pd.DataFrame, value_cols: Sequence[str]
) -> pd.DataFrame:
    """Bottom-up sums: product rows plus category and total rows.

    Args:
        frame: product-level ``unique_id``, ``ds``, optionally ``cutoff``, and ``value_cols``;
            one row per (``unique_id``, [``cutoff``,] ``ds``). Other columns are dropped.
        categories: ``unique_id`` -> ``category``; products missing from it are summed into
            ``"unknown"``.
        value_cols: columns to sum.

    Returns:
        ``level``, ``unique_id``, [``cutoff``,] ``ds``, ``value_cols``: the products unchanged,
        each category (``unique_id`` = category name) and the total (``unique_id`` =
        ``"total"``) summed per [``cutoff``,] ``ds`` as floats (NaN counts as 0, like
        ``pandas`` sums), sorted like :func:`reconcile`.
    """
    value_cols = list(value_cols)
    keys = ["cutoff", "ds"] if "cutoff" in frame.columns else ["ds"]
    _require(frame, ["unique_id", *keys, *value_cols], "frame")
    slice_code, slices = _slice_codes(frame, keys, "frame")
    product_code, products = pd.factorize(frame["unique_id"], sort=True)
    if (product_code < 0).any():
        raise ValueError("frame has rows with a missing unique_id")
    n_slices = max(len(slices), 1)
    key = product_code * n_slices + slice_code
    order = np.argsort(key, kind="stable")
    dup = np.flatnonzero(np.diff(key[order]) == 0)
    if dup.size:
        row = frame.iloc[int(order[dup[0]])]
        raise ValueError(
            f"frame has duplicated rows, e.g. unique_id {row['unique_id']!r} at {_where(row)}"
        )
    named = attach_categories(pd.DataFrame({"unique_id": products}), categories)
    category_code, category_names = pd.factorize(named["category"], sort=True)
    # cells (category, slice) and slices in sorted order
    flat = category_code[product_code] * n_slices + slice_code
    n_cells = len(category_names) * n_slices
    cells = np.flatnonzero(np.bincount(flat, minlength=n_cells))
    by_category = slices.iloc[cells % n_slices].reset_index(drop=True)
    by_category.insert(0, "unique_id", category_names.take(cells // n_slices))
    total = slices.assign(unique_id=_TOTAL_ID)
    for col in value_cols:
        values = frame[col].to_numpy(dtype=float)
        values = np.where(np.isnan(values), 0.0, values)
        by_category[col] = np.bincount(flat, weights=values, minlength=n_cells)[cells]
        total[col] = np.bincount(slice_code, weights=values, minlength=len(slices))
    columns = ["level", "unique_id", *keys, *value_cols]
    parts = [
        frame[columns[1:]].take(order).assign(level=LEVELS[_PRODUCT]),
        by_category.assign(level=LEVELS[_CATEGORY]),
        total.assign(level=LEVELS[_TOTAL]),
    ]
    return pd.concat([part[columns] for part in parts], ignore_index=True)


def _require(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in dict.fromkeys(columns) if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} frame is missing columns {missing}")


def _where(row: pd.Series) -> str:
    keys = [k for k in ("cutoff", "ds") if k in row.index]
    return ", ".join(f"{k}={row[k]}" for k in keys)


def _slice_name(tree: _Tree, code: int) -> str:
    return _where(tree.slices.iloc[code])


def _build_tree(forecasts: pd.DataFrame, categories: pd.DataFrame) -> tuple[_Tree, np.ndarray]:
    """Codes of every row, structural checks, and the output row order."""
    keys = ["cutoff", "ds"] if "cutoff" in forecasts.columns else ["ds"]
    level = pd.Categorical(forecasts["level"], categories=LEVELS).codes
    if (level < 0).any():
        unknown = sorted(map(str, pd.unique(forecasts["level"][level < 0])))
        raise ValueError(f"unknown level(s) {unknown}; expected one of {LEVELS}")
    slice_code, slices = _slice_codes(forecasts, keys, "forecasts")
    ids = forecasts["unique_id"].to_numpy()
    rows = (
        np.flatnonzero(level == _PRODUCT),
        np.flatnonzero(level == _CATEGORY),
        np.flatnonzero(level == _TOTAL),
    )

    product_code, products = pd.factorize(ids[rows[_PRODUCT]], sort=True)
    if (product_code < 0).any():
        raise ValueError("forecasts has product rows with a missing unique_id")
    named = attach_categories(pd.DataFrame({"unique_id": products}), categories)
    product_category_name = named["category"].to_numpy()
    category_ids = ids[rows[_CATEGORY]]
    both = np.concatenate([product_category_name, category_ids])
    codes, category_names = pd.factorize(both, sort=True)
    if (codes < 0).any():
        raise ValueError("forecasts has category rows with a missing unique_id")
    product_category = codes[: len(products)]
    category_code = codes[len(products) :]
    total_ids = pd.unique(ids[rows[_TOTAL]])
    if any(uid != _TOTAL_ID for uid in total_ids):
        raise ValueError(f"total rows must have unique_id {_TOTAL_ID!r}, got {list(total_ids)}")

    node_of = (product_code, category_code, np.zeros(len(rows[_TOTAL]), dtype=np.int64))
    offsets = (0, len(products), len(products) + len(category_names))
    node = np.empty(len(forecasts), dtype=np.int64)
    for code, offset in enumerate(offsets):
        node[rows[code]] = node_of[code] + offset
    # one int64 per row ordering by level, unique_id, slice; equal keys are duplicated rows
    node *= max(len(slices), 1)
    node += slice_code
    order = np.argsort(node, kind="stable")
    dup = np.flatnonzero(np.diff(node[order]) == 0)
    del node
    if dup.size:
        row = forecasts.iloc[int(order[dup[0]])]
        raise ValueError(
            f"forecasts has duplicated rows, e.g. level {row['level']!r}, "
            f"unique_id {row['unique_id']!r} at {_where(row)}"
        )

    n_slices, n_cats = len(slices), len(category_names)
    slice_of = (slice_code[rows[0]], slice_code[rows[1]], slice_code[rows[2]])
    flat = slice_of[_PRODUCT] * n_cats + product_category[product_code]
    counts = np.bincount(flat, minlength=n_slices * n_cats).reshape(n_slices, n_cats)
    tree = _Tree(
        slices=slices,
        products=pd.Index(products),
        product_category=product_category,
        categories=pd.Index(category_names),
        rows=rows,
        slice_of=slice_of,
        node_of=node_of,
        counts=counts,
    )
    _check_structure(tree)
    return tree, order


def _slice_codes(
    frame: pd.DataFrame, keys: list[str], name: str
) -> tuple[np.ndarray, pd.DataFrame]:
    """Code of each row's (cutoff, ds), numbered in sorted order, and the slice keys."""
    combined = np.zeros(len(frame), dtype=np.int64)
    uniques = []
    for key in keys:
        codes, values = pd.factorize(frame[key], sort=True)
        if (codes < 0).any():
            raise ValueError(f"{name} has missing values in {key!r}")
        combined = combined * len(values) + codes
        uniques.append(values)
    slice_code, first = pd.factorize(combined, sort=True)
    slices = {}
    for i, key in enumerate(keys):
        inner = int(np.prod([len(u) for u in uniques[i + 1 :]], dtype=np.int64))
        slices[key] = uniques[i].take((first // inner) % len(uniques[i]))
    return slice_code, pd.DataFrame(slices)


def _check_structure(tree: _Tree) -> None:
    """Every slice: one total, a category row exactly for the categories with products."""
    n_slices, n_cats = tree.counts.shape
    has_category = np.zeros((n_slices, n_cats), dtype=bool)
    has_category[tree.slice_of[_CATEGORY], tree.node_of[_CATEGORY]] = True
    orphan = np.argwhere(has_category & (tree.counts == 0))
    if orphan.size:
        s, c = orphan[0]
        raise ValueError(
            f"category {tree.categories[c]!r} has a forecast but no products at "
            f"{_slice_name(tree, s)}"
        )
    missing = np.argwhere(~has_category & (tree.counts > 0))
    if missing.size:
        s, c = missing[0]
        hint = ""
        if tree.categories[c] == UNKNOWN_CATEGORY:
            hint = f" (products missing from the categories frame belong to {UNKNOWN_CATEGORY!r})"
        raise ValueError(
            f"category {tree.categories[c]!r} has products but no forecast at "
            f"{_slice_name(tree, s)}{hint}"
        )
    has_total = np.bincount(tree.slice_of[_TOTAL], minlength=n_slices) > 0
    if not has_total.all():
        s = int(np.flatnonzero(~has_total)[0])
        raise ValueError(f"no {_TOTAL_ID!r} forecast at {_slice_name(tree, s)}")
    empty = tree.counts.sum(axis=1) == 0
    if empty.any():
        s = int(np.flatnonzero(empty)[0])
        raise ValueError(f"{_TOTAL_ID!r} has a forecast but no products at {_slice_name(tree, s)}")


def _structural_weights(tree: _Tree) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """W of ``wls_struct``: products 1, each aggregate its number of products in the slice."""
    counts = tree.counts.astype(float)
    return np.ones(len(tree.rows[_PRODUCT])), counts, counts.sum(axis=1)


def _variance_weights(
    tree: _Tree, variances: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """W of ``wls_var`` with the fallback described in :func:`reconcile`."""
    _require(variances, ["level", "unique_id", "variance"], "variances")
    dup = variances.duplicated(["level", "unique_id"])
    if dup.any():
        row = variances[dup].iloc[0]
        raise ValueError(
            f"variances has duplicated rows for level {row['level']!r}, "
            f"unique_id {row['unique_id']!r}"
        )
    level = variances["level"].to_numpy()
    value = pd.to_numeric(variances["variance"], errors="coerce").to_numpy(dtype=float)
    indexes = (tree.products, tree.categories, pd.Index([_TOTAL_ID]))
    node_var = []
    for code, index in enumerate(indexes):
        var = np.full(len(index), np.nan)
        at = index.get_indexer(variances["unique_id"][level == LEVELS[code]])
        var[at[at >= 0]] = value[level == LEVELS[code]][at >= 0]
        node_var.append(np.where(np.isfinite(var) & (var > 0), var, np.nan))

    n_products = len(tree.products)
    sizes = (
        np.ones(n_products),
        np.bincount(tree.product_category, minlength=len(tree.categories)).astype(float),
        np.array([float(n_products)]),
    )
    ratios = [var / size for var, size in zip(node_var, sizes, strict=True)]
    pooled = np.concatenate(ratios)
    overall = float(np.nanmedian(pooled)) if np.isfinite(pooled).any() else 1.0
    scale = [float(np.nanmedian(r)) if np.isfinite(r).any() else overall for r in ratios]
    n_missing = sum(int(np.isnan(v).sum()) for v in node_var)
    if n_missing:
        warnings.warn(
            f"{n_missing} of {len(pooled)} nodes have no usable variance; they get the median "
            "variance per product of their level times their number of products",
            stacklevel=3,
        )

    var_p = node_var[_PRODUCT][tree.node_of[_PRODUCT]]
    w_product = np.where(np.isnan(var_p), scale[_PRODUCT], var_p)
    counts = tree.counts.astype(float)
    var_c = node_var[_CATEGORY]
    w_category = np.where(np.isnan(var_c)[None, :], scale[_CATEGORY] * counts, var_c[None, :])
    w_category = np.where(counts > 0, w_category, 0.0)
    var_t = node_var[_TOTAL][0]
    w_total = scale[_TOTAL] * counts.sum(axis=1) if np.isnan(var_t) else np.full(len(counts), var_t)
    return w_product, w_category, w_total


def _wls_bottom(
    tree: _Tree,
    yhat: np.ndarray,
    w_product: np.ndarray,
    w_category: np.ndarray,
    w_total: np.ndarray,
) -> np.ndarray:
    """Reconciled products of every slice: ``b + W_b C_b' lambda`` with
    ``(C W C') lambda = C yhat`` (see the module docstring).

    ``w_category`` is (slices x categories) and must be 0 in the cells of categories absent
    from a slice; ``w_total`` has one weight per slice.
    """
    n_slices, n_cats = tree.counts.shape
    size = n_slices * n_cats
    flat = tree.flat()
    bottom = yhat[tree.rows[_PRODUCT]]
    cat_hat = np.zeros((n_slices, n_cats))
    cat_hat[tree.slice_of[_CATEGORY], tree.node_of[_CATEGORY]] = yhat[tree.rows[_CATEGORY]]
    total_hat = np.zeros(n_slices)
    total_hat[tree.slice_of[_TOTAL]] = yhat[tree.rows[_TOTAL]]

    # incoherence of each category and of the total
    e_category = cat_hat - np.bincount(flat, weights=bottom, minlength=size).reshape(
        n_slices, n_cats
    )
    e_total = total_hat - cat_hat.sum(axis=1)
    # arrowhead system [[diag(w_c + s_c), -w_c], [-w_c', w_t + sum(w_c)]] lambda = e
    s = np.bincount(flat, weights=w_product, minlength=size).reshape(n_slices, n_cats)
    a = np.where(tree.counts > 0, w_category + s, 1.0)
    lam_total = (e_total + (w_category * e_category / a).sum(axis=1)) / (
        w_total + (w_category * s / a).sum(axis=1)
    )
    lam_category = (e_category + w_category * lam_total[:, None]) / a
    return bottom + w_product * lam_category.ravel()[flat]
