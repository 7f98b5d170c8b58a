"""The Dagster code location: every connection's assets, built from the files in mappings/.

Connection files are read when the location loads, with their `${VAR}` values from the
environment (`dagster dev` also reads a `.env` file); the Braze key is read only at run time.
"""

from assets.build import build_definitions
from pipeline.mapping import load_connections

defs = build_definitions(load_connections())
