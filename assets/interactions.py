"""Interactions: a profile input the data engineer feeds, published per day for export goals."""

import dagster as dg

from assets.partitions import daily
from assets.resources import store_key
from pipeline.exports.interactions import publish_interactions
from pipeline.mapping import Connection


def interactions_key(connections: list[Connection]) -> dg.AssetKey:
    return dg.AssetKey([connections[0].name, "interactions"])


def interactions_asset(connections: list[Connection]) -> dg.AssetsDefinition:
    owner = connections[0]

    @dg.asset(
        key=interactions_key(connections),
        partitions_def=daily(owner.start_date.isoformat()),
        group_name=owner.name,
        kinds={"polars", "parquet"},
        code_version="1",
        required_resource_keys={store_key(owner)},
        description=f"""Which profile viewed which interaction, up to the end of the day.

Reads the CSV or Parquet files dropped under `inputs/interactions/` in {owner.storage.root}
(columns: an identifier such as external_id, interaction_id, viewed_at). Replace this asset
with your own to feed interactions from elsewhere; export goals read its output.""",
    )
    def interactions(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        store = getattr(context.resources, store_key(owner)).store()
        counts = publish_interactions(store, context.partition_key)
        context.log.info("published %d interactions from %d files", counts["rows"], counts["files"])
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": int(counts["rows"]),
                "files": int(counts["files"]),
                "later_rows": int(counts["later_rows"]),
                "uri": dg.MetadataValue.path(store.uri(str(counts["key"]))),
            }
        )

    return interactions
