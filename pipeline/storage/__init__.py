"""Objects by URI: a local folder or any S3 endpoint, behind one small interface."""

from pipeline.storage.base import ObjectInfo, ObjectNotFound, ObjectStore, StorageError
from pipeline.storage.open import open_store, split_uri

__all__ = ["ObjectInfo", "ObjectNotFound", "ObjectStore", "StorageError", "open_store", "split_uri"]
