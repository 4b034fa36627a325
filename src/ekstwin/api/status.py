"""Kubernetes ``Status`` objects: every error the API returns, in the shape clients decode.

kubectl prints ``Error from server (<reason>): <message>`` and the Python client raises ``ApiException``
with the body, so reason, code and message must be those the real API server would send. Messages use the
resource (plural) name, as the API server does: ``pods "web" not found``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ekstwin.model.kinds import KindInfo

Obj = dict[str, Any]


class ApiError(Exception):
    """An HTTP error answered with a Status body; raised anywhere below the route, rendered by the app."""

    def __init__(self, code: int, reason: str, message: str, *, details: Obj | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def to_status(self) -> Obj:
        """The ``Status`` body (kind Status, apiVersion v1, status Failure)."""
        return failure(self.code, self.reason, self.message, self.details)


def failure(code: int, reason: str, message: str, details: Obj | None = None) -> Obj:
    body: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                 "message": message, "reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


def _details(info: KindInfo, name: str | None) -> Obj:
    out: Obj = {"kind": info.plural}
    if name:
        out["name"] = name
    if info.group:
        out["group"] = info.group
    return out


def _resource(info: KindInfo) -> str:
    return f"{info.plural}.{info.group}" if info.group else info.plural


def not_found(info: KindInfo, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{_resource(info)} "{name}" not found', details=_details(info, name))


def no_such_path() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def already_exists(info: KindInfo, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{_resource(info)} "{name}" already exists',
                    details=_details(info, name))


def conflict(info: KindInfo, name: str, why: str) -> ApiError:
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {_resource(info)} "{name}": {why}',
                    details=_details(info, name))


def invalid(info: KindInfo, name: str, causes: Sequence[tuple[str, str]]) -> ApiError:
    """422 naming each bad field, as ``kubectl apply`` shows them: ``Kind "n" is invalid: path: msg``."""
    listed = ", ".join(f"{field}: {msg}" if field else msg for field, msg in causes)
    details = {**_details(info, name), "kind": info.kind,
               "causes": [{"reason": "FieldValueInvalid", "message": msg, "field": field}
                          for field, msg in causes]}
    return ApiError(422, "Invalid", f'{info.kind} "{name}" is invalid: {listed}', details=details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed(method: str) -> ApiError:
    return ApiError(405, "MethodNotAllowed", f"the server does not allow this method ({method}) on the "
                                             "requested resource")


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format: "
                                                  f"accepted media types include: application/json-patch+json, "
                                                  f"application/merge-patch+json, "
                                                  f"application/strategic-merge-patch+json (got {content_type})")
