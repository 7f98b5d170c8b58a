"""Errors in connection files, each pointing at a file, line and column and saying the fix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class MappingError(Exception):
    """One problem in one connection file.

    `line` and `column` are 1-based and point at the offending YAML node (the key for an
    unknown key, the value for a bad value), so editors and terminals can jump to it.
    `suggestion` is the closest allowed value when the input looks like a typo of one.
    """

    path: Path
    line: int
    column: int
    message: str
    suggestion: str | None = None
    fix: str = ""

    def __str__(self) -> str:
        text = f"{self.path}:{self.line}:{self.column}: {self.message}"
        if self.suggestion is not None:
            text += f": did you mean {self.suggestion!r}?"
            return f"{text} ({self.fix})" if self.fix else text
        return f"{text}; {self.fix}" if self.fix else text

    def sort_key(self) -> tuple[str, int, int, str]:
        return (str(self.path), self.line, self.column, self.message)


class MappingsInvalid(Exception):
    """Raised by the loaders with every error found, so one run shows them all."""

    def __init__(self, errors: list[MappingError]) -> None:
        self.errors = sorted(errors, key=MappingError.sort_key)
        count = f"{len(self.errors)} error{'s' if len(self.errors) != 1 else ''} in connection files"
        super().__init__("\n".join([count, *(str(e) for e in self.errors)]))


class SecretNotSet(RuntimeError):
    """A secret's environment variable is missing when the run needs it.

    Raised at run time, not load time: definitions are built without secrets."""


class SecretInvalid(SecretNotSet):
    """A secret's variable is set, but to something that cannot be that secret (the message never shows it)."""


class MappingsFolderMissing(FileNotFoundError):
    """The mappings folder does not exist; the message names it and the variable that chooses it."""
