"""The one error hierarchy of ekstwin.

Exceptions are for bugs and bad input only; expected outcomes (a pod that does not fit, a launch that
hits insufficient capacity) are values. The CLI prints any ``EkstwinError`` as one line and exits 2.

    EkstwinError
    ├── InvalidInput            bad user input; names file, object and field
    │   ├── InvalidQuantity     a resource quantity that does not parse
    │   └── InvalidScenario     a scenario or manifest problem
    ├── NotFound                an object asked for by name does not exist
    ├── Conflict                optimistic-concurrency failure (resourceVersion mismatch) or already exists
    └── CloudError              an EC2-style error carrying an AWS error code
"""

from __future__ import annotations

from typing import Any


class EkstwinError(Exception):
    """Root of every error ekstwin raises on purpose."""


class InvalidInput(EkstwinError):
    """Bad user input. The message names where it came from: file, object and field path."""

    def __init__(self, message: str, *, file: str | None = None, obj: str | None = None,
                 field: str | None = None) -> None:
        self.file = file
        self.obj = obj
        self.field = field
        self.reason = message
        super().__init__(self._render())

    def __reduce__(self) -> tuple[Any, ...]:
        # errors cross process boundaries (parallel what-if runs); the default pickles only the rendered message
        return (_rebuild_invalid, (type(self), self.reason, self.file, self.obj, self.field))

    def _render(self) -> str:
        where = [p for p in (self.file, self.obj, self.field) if p]
        return f"{': '.join(where)}: {self.reason}" if where else self.reason

    def located(self, *, file: str | None = None, obj: str | None = None,
                field_prefix: str | None = None) -> InvalidInput:
        """Return a copy of this error with missing location parts filled in."""
        field = self.field
        if field_prefix:
            field = f"{field_prefix}.{field}" if field else field_prefix
        err = type(self).__new__(type(self))
        InvalidInput.__init__(err, self.reason, file=self.file or file, obj=self.obj or obj, field=field)
        return err


class InvalidQuantity(InvalidInput):
    """A Kubernetes resource quantity that does not parse."""


class InvalidScenario(InvalidInput):
    """A scenario file or manifest that cannot be loaded as written."""


class NotFound(EkstwinError):
    """A named object does not exist."""


class Conflict(EkstwinError):
    """The object changed since it was read (resourceVersion mismatch), or it already exists."""


class CloudError(EkstwinError):
    """An EC2-style failure; ``code`` is the AWS error code (e.g. InsufficientInstanceCapacity)."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.code, self.message))


def _rebuild_invalid(cls: type[InvalidInput], reason: str, file: str | None, obj: str | None,
                     field: str | None) -> InvalidInput:
    err = cls.__new__(cls)
    InvalidInput.__init__(err, reason, file=file, obj=obj, field=field)
    return err
