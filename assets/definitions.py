"""The Dagster code location: every connection's assets, schedules and sensors."""

import dagster as dg

defs = dg.Definitions()
