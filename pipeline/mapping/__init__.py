"""Connection files (mappings/*.yaml): the model, the loader and the validator.

connections = load_connections()          # every file, in name order; raises MappingsInvalid
errors = validate_folder()                # every error of every file, for `profilesync validate`
"""

from pipeline.mapping.budget import Budget
from pipeline.mapping.errors import MappingError, MappingsFolderMissing, MappingsInvalid, SecretInvalid, SecretNotSet
from pipeline.mapping.goals import (
    ExportField,
    ExportGoal,
    ExportIdentifierMapping,
    FieldMapping,
    ImportGoal,
    ImportIdentifierMapping,
    RemainingFields,
)
from pipeline.mapping.loader import (
    FOLDER_VARIABLE,
    load_connection_file,
    load_connections,
    mappings_folder,
    validate_folder,
)
from pipeline.mapping.model import BrazeSettings, Connection, Notify, StorageSettings
from pipeline.mapping.permissions import Permission
from pipeline.mapping.segment_expressions import check_segment_expression
from pipeline.mapping.sources import (
    ExportSource,
    IdentifierSource,
    InteractionsSource,
    PermissionSource,
    PropertySource,
    SegmentsSource,
    StaticSource,
)

__all__ = [
    "FOLDER_VARIABLE",
    "BrazeSettings",
    "Budget",
    "Connection",
    "ExportField",
    "ExportGoal",
    "ExportIdentifierMapping",
    "ExportSource",
    "FieldMapping",
    "IdentifierSource",
    "ImportGoal",
    "ImportIdentifierMapping",
    "InteractionsSource",
    "MappingError",
    "MappingsFolderMissing",
    "MappingsInvalid",
    "Notify",
    "Permission",
    "PermissionSource",
    "PropertySource",
    "RemainingFields",
    "SecretInvalid",
    "SecretNotSet",
    "SegmentsSource",
    "StaticSource",
    "StorageSettings",
    "check_segment_expression",
    "load_connection_file",
    "load_connections",
    "mappings_folder",
    "schema_json",
    "validate_folder",
    "write_schema",
]


def __getattr__(name: str):
    # Imported on first use, so `python -m pipeline.mapping.schema` does not import itself twice.
    if name in ("schema_json", "write_schema"):
        from pipeline.mapping import schema

        return getattr(schema, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
