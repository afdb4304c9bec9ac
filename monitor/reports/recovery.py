"""Element recovery of a set of lots, computed once and shown the same in every report and the API.

One rule everywhere: a lot counts towards an element's recovery only when its assays are in (final
or preliminary) and both its element mass in the feed and in the element's product stream are known;
every other lot is left out of the numerator *and* the denominator and counted as "without assays".

The product streams follow what EU 2023/1542 Annex XII Part C measures: Co, Ni, Li (and Pb where
fed) are recovered through the black mass; Cu and Al leave in their own fractions (copper,
aluminium); Fe (ferrous) is reported without a target. These are the preprocessing step's
contribution: the regulation's targets apply to the whole recycling chain.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from monitor.store.rows import ELEMENT_PRODUCTS

ASSAYED = ("final", "preliminary")


@dataclass(frozen=True, slots=True)
class ElementRoute:
    element: str
    stream: str  # the product stream the element is recovered into
    target_2027: float | None  # Annex XII Part C material-recovery target (ratio), None: no target
    target_2031: float | None


# Order is the order of the regulatory table. Pb is not in the accounting (no lead fed by these lines).
ROUTES = (
    ElementRoute("co", "black_mass", 0.90, 0.95),
    ElementRoute("ni", "black_mass", 0.90, 0.95),
    ElementRoute("li", "black_mass", 0.50, 0.80),
    ElementRoute("mn", "black_mass", None, None),
    ElementRoute("cu", "copper", 0.90, 0.95),
    ElementRoute("al", "aluminium", None, None),
    ElementRoute("fe", "ferrous", None, None),
)
ROUTE = {r.element: r for r in ROUTES}
_OWN_PRODUCT = {el: stream for el, stream in ELEMENT_PRODUCTS}  # the columns the batch rows carry


def product_column(element: str) -> str:
    """The batch column of `element` in its product stream (black_mass_ni_kg, copper_cu_kg, ...)."""
    stream = ROUTE[element].stream
    if stream != "black_mass" and _OWN_PRODUCT.get(element) != stream:
        raise ValueError(f"recovery of {element}: the batch rows carry no {stream}_{element}_kg column")
    return f"{stream}_{element}_kg"


def _counted(element: str) -> pl.Expr:
    """True for a lot that counts towards `element`'s recovery (assayed, both masses known)."""
    known = [pl.col(c).fill_nan(None).is_not_null() for c in (f"feed_{element}_kg", product_column(element))]
    return pl.col("assay_status").is_in(ASSAYED) & known[0] & known[1]


def recovery_exprs(element: str, prefix: str = "") -> list[pl.Expr]:
    """Aggregations (for select or group_by) giving recovery, kg in/out and the lots left out."""
    counted = _counted(element)
    fin = pl.col(f"feed_{element}_kg").filter(counted).sum()
    fout = pl.col(product_column(element)).filter(counted).sum()
    return [
        pl.when(fin > 0).then(fout / fin).otherwise(None).alias(f"{prefix}recovery_{element}"),
        (~counted).sum().cast(pl.Int64).alias(f"{prefix}lots_without_assays_{element}"),
    ]


def element_table(batches: pl.DataFrame) -> pl.DataFrame:
    """One row per element: its product stream, kg in and recovered, recovery, lots counted/left out, targets."""
    rows = []
    for r in ROUTES:
        counted = batches.filter(_counted(r.element)) if batches.height else batches
        fin = float(counted[f"feed_{r.element}_kg"].sum()) if counted.height else 0.0
        fout = float(counted[product_column(r.element)].sum()) if counted.height else 0.0
        rows.append(
            {
                "element": r.element,
                "product_stream": r.stream,
                "lots_counted": counted.height,
                "lots_without_assays": batches.height - counted.height,
                "feed_kg": fin if counted.height else None,
                "recovered_kg": fout if counted.height else None,
                "recovery": fout / fin if fin > 0 else None,
                "target_2027": r.target_2027,
                "target_2031": r.target_2031,
            }
        )
    schema = {
        "element": pl.String,
        "product_stream": pl.String,
        "lots_counted": pl.Int64,
        "lots_without_assays": pl.Int64,
        "feed_kg": pl.Float64,
        "recovered_kg": pl.Float64,
        "recovery": pl.Float64,
        "target_2027": pl.Float64,
        "target_2031": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)


def without_assays(batches: pl.DataFrame, element: str = "ni") -> int:
    """Lots of the set that do not count towards `element` (the headline's "n lots without assays")."""
    return int(batches.select((~_counted(element)).sum()).item()) if batches.height else 0
