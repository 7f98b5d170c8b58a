"""Which records hold which profiles' identifiers, and which records link several of them.

Joins run on a 64-bit hash of (kind, value) and are then checked on the text itself, so a hash
collision can cost time but never a wrong match; the hash is never stored. Records are
numbered (`__rec`) so the heavy work runs on integers, not on braze_id text.
"""

from __future__ import annotations

from itertools import pairwise

import polars as pl

from pipeline.profiles.fields import KEY, REC
from pipeline.profiles.snapshot import PROFILE_ID

ROW = "__k"  # row number of a key


def hashed(keys: pl.DataFrame) -> pl.DataFrame:
    """Keys (kind, value, ...) with a row number and the join hash."""
    return keys.with_columns(pl.struct("kind", "value").hash(seed=0).alias("__h")).with_row_index(ROW)


def match_keys(keys: pl.DataFrame, identifiers: pl.DataFrame) -> pl.DataFrame:
    """__rec, __k, profile_id, __p (dense profile number) for every key some profile holds."""
    held = identifiers.select(
        pl.struct("kind", "value").hash(seed=0).alias("__h"),
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("__i"),
        pl.col(PROFILE_ID).rank("dense").alias("__p"),
    )
    pairs = keys.select(REC, ROW, "__h").join(held, on="__h").drop("__h")
    k, i = pairs[ROW], pairs["__i"]
    same = (keys["value"].gather(k) == identifiers["value"].gather(i)) & (
        keys["kind"].gather(k) == identifiers["kind"].gather(i)
    )
    pairs = pairs.filter(same)
    return pairs.with_columns(identifiers[PROFILE_ID].gather(pairs["__i"])).drop("__i")


def linking_records(keys: pl.DataFrame, per_record: pl.DataFrame) -> pl.Series:
    """Records that match several profiles or share an identifier value with another record."""
    several = per_record.filter(pl.col("lo") != pl.col("hi"))[REC]
    maybe = keys.filter(pl.col("__h").is_duplicated())
    shared = maybe.filter(pl.col(REC).n_unique().over("kind", "value") > 1)[REC]
    return pl.concat([several, shared]).unique().sort()


def components(edges: list[tuple[str, str]]) -> dict[str, str]:
    """Connected components of an undirected graph: node → smallest node of its component."""
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {node: find(node) for node in parent}


def linked_groups(link_keys: pl.DataFrame, link_matches: pl.DataFrame) -> pl.DataFrame:
    """group, is ("r" record / "p" profile), id: union-find over the linking records' keys and matches."""
    edges = list(zip(("r" + link_matches[KEY]).to_list(), ("p" + link_matches[PROFILE_ID]).to_list(), strict=True))
    for group in link_keys.sort(KEY).group_by("kind", "value").agg(pl.col(KEY)).get_column(KEY).to_list():
        edges.extend(("r" + a, "r" + b) for a, b in pairwise(group))
    edges.extend(("r" + b, "r" + b) for b in link_keys[KEY].to_list())
    roots = components(edges)
    nodes = pl.DataFrame(
        {"node": list(roots), "group": list(roots.values())}, schema={"node": pl.String, "group": pl.String}
    )
    return nodes.select("group", pl.col("node").str.head(1).alias("is"), pl.col("node").str.slice(1).alias("id"))
