"""The bloat of a table or a btree index: measured by pgstattuple when the collector could
(`exact`), otherwise estimated from the statistics, as the well-known catalog queries do:
the pages the live rows would fill at the relation's fill factor (row width from
pg_stats, tuple and page headers, alignment) against the pages it has. Pure arithmetic
on the `postgres.bloat` fact's rows; None when the statistics cannot tell (a column never
analysed, an expression index)."""

from __future__ import annotations

import math
from typing import Any

PAGE_HEADER = 24
BTREE_SPECIAL = 16  # a btree page's own trailer
ITEM_POINTER = 4
HEAP_TUPLE_HEADER = 23
INDEX_TUPLE_HEADER = 8
ALIGN = 8


def _aligned(n: float) -> int:
    return int(math.ceil(n / ALIGN) * ALIGN)


def _expected_pages(row: dict[str, Any]) -> int:
    block, fill = row["block_size"], row["fillfactor"] / 100
    if row["kind"] == "table":
        header = HEAP_TUPLE_HEADER + (math.ceil(row["columns"] / 8) if row["has_nulls"] else 0)
        per_page = max(1, int((block - PAGE_HEADER) * fill // (_aligned(header) + _aligned(row["width"]) + ITEM_POINTER)))
        return max(1, math.ceil(row["tuples"] / per_page))
    per_page = max(2, int((block - PAGE_HEADER - BTREE_SPECIAL) * fill //
                          (INDEX_TUPLE_HEADER + _aligned(row["width"]) + ITEM_POINTER)))
    leaves = max(1, math.ceil(row["tuples"] / per_page))
    return leaves + math.ceil(leaves / per_page) + 1  # the inner pages, the meta page


def measure(row: dict[str, Any]) -> dict[str, Any] | None:
    """{"ratio", "bloat_bytes", "size_bytes", "source"} or None."""
    size = row["pages"] * row["block_size"]
    exact = row.get("exact")
    if exact and exact.get("table_len"):
        size = int(exact["table_len"])
        if row["kind"] == "table":
            # Free space up to the fill factor's reserve is by design, not bloat.
            waste = int(exact["free_bytes"]) + int(exact["dead_bytes"]) - size * (1 - row["fillfactor"] / 100)
            ratio = max(0.0, waste / size)
            source = "pgstattuple_approx"
        else:
            density = float(exact.get("avg_leaf_density") or 0)
            if not exact.get("leaf_pages") or math.isnan(density):
                return None
            ratio = max(0.0, 1 - density / row["fillfactor"])
            source = "pgstatindex"
        return {"ratio": ratio, "bloat_bytes": int(size * ratio), "size_bytes": size, "source": source}
    if not row["pages"] or not row["columns"] or row["columns_with_stats"] < row["columns"]:
        return None
    if row["kind"] == "index" and row.get("has_expressions"):
        return None
    expected = _expected_pages(row)
    ratio = max(0.0, 1 - expected / row["pages"])
    return {"ratio": ratio, "bloat_bytes": int(max(0, row["pages"] - expected) * row["block_size"]),
            "size_bytes": size, "source": "estimate"}
