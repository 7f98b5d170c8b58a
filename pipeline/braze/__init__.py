"""Braze's REST API: the production client and the facts it and the sandbox share."""

from pipeline.braze.client import BrazeClient, ClientStats, validate_base_url
from pipeline.braze.track import RejectedRecord, TrackResult

__all__ = ["BrazeClient", "ClientStats", "RejectedRecord", "TrackResult", "validate_base_url"]
