"""What an API handler receives and returns; the server turns an `Answer` into HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict


@dataclass
class Call:
    path: str
    body: Any = None  # the parsed JSON body of a POST
    args: MultiDict[str, str] = field(default_factory=MultiDict)
    key_name: str = ""
    outcome: Any = None  # what the handler wants in the request log beside the body
    data_points: int = 0


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def error(status: int, message: str, **extra: Any) -> Answer:
    """Every error is a JSON object with at least `message`."""
    return Answer(status, {"message": message, **extra})


def success(status: int = 200, **fields: Any) -> Answer:
    return Answer(status, {"message": "success", **fields})
