"""API errors as the Kubernetes API server reports them: a `metav1.Status` with the exact reason and message.

The constructors mirror `k8s.io/apimachinery/pkg/api/errors` (`NewNotFound`, `NewAlreadyExists`, `NewConflict`,
`NewResourceExpired`, `NewBadRequest`, `NewMethodNotSupported`, `NewUnauthorized`, `NewForbidden`,
`NewInvalid`). A resource is named as Go's `GroupResource.String()` prints it: `pods` for the core group,
`deployments.apps` otherwise; the Status details split it into `group` and `kind` (the resource, as Go does).
"""

from __future__ import annotations

from typing import Any

from podrun.model.errors import InvalidError, go_quote

# registry/generic/registry/store.go: OptimisticLockErrorMsg.
OPTIMISTIC_LOCK_MESSAGE = "the object has been modified; please apply your changes to the latest version and try again"


class ApiError(Exception):
    """An error the API answers with: HTTP `code`, Status `reason`, human `message` and optional `details`."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        super().__init__(message)

    def status(self) -> dict[str, Any]:
        """The `Status` object to send as the response body (or as a watch `ERROR` event's object)."""
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        # Go leaves out a nil Details pointer (omitempty).
        if self.details is not None:
            status["details"] = self.details
        status["code"] = self.code
        return status


def _details(resource: str, name: str = "") -> dict[str, Any]:
    """StatusDetails for a (group-qualified) resource, empty fields left out as Go's omitempty does."""
    plain, _, group = resource.partition(".")
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    if plain:
        details["kind"] = plain
    return details


def not_found(resource: str, name: str) -> ApiError:
    """404 NotFound: `pods "web" not found`."""
    return ApiError(404, "NotFound", f"{resource} {go_quote(name)} not found", _details(resource, name))


def already_exists(resource: str, name: str) -> ApiError:
    """409 AlreadyExists: `pods "web" already exists`."""
    return ApiError(409, "AlreadyExists", f"{resource} {go_quote(name)} already exists", _details(resource, name))


def conflict(resource: str, name: str, detail: str = OPTIMISTIC_LOCK_MESSAGE) -> ApiError:
    """409 Conflict: `Operation cannot be fulfilled on pods "web": <detail>` (by default the stale-update text)."""
    message = f"Operation cannot be fulfilled on {resource} {go_quote(name)}: {detail}"
    return ApiError(409, "Conflict", message, _details(resource, name))


def gone(message: str) -> ApiError:
    """410 Expired (`NewResourceExpired`), for example `too old resource version: 5 (10)`."""
    return ApiError(410, "Expired", message)


def bad_request(message: str) -> ApiError:
    """400 BadRequest with the message as given."""
    return ApiError(400, "BadRequest", message)


def method_not_allowed(resource: str, action: str) -> ApiError:
    """405 MethodNotAllowed: `<action> is not supported on resources of kind "pods"`."""
    message = f"{action} is not supported on resources of kind {go_quote(resource)}"
    return ApiError(405, "MethodNotAllowed", message, _details(resource))


def unauthorized(message: str = "Unauthorized") -> ApiError:
    """401 Unauthorized; the API server's authentication filter says just `Unauthorized`."""
    return ApiError(401, "Unauthorized", message or "not authorized")


def forbidden(resource: str, name: str, detail: str) -> ApiError:
    """403 Forbidden: `pods "web" is forbidden: <detail>` (`pods is forbidden: …` without a name)."""
    if not resource:
        message = f"forbidden: {detail}"
    elif name:
        message = f"{resource} {go_quote(name)} is forbidden: {detail}"
    else:
        message = f"{resource} is forbidden: {detail}"
    return ApiError(403, "Forbidden", message, _details(resource, name))


def invalid_from(error: InvalidError) -> ApiError:
    """422 Invalid from the model's field validation error, with its causes."""
    status = error.status()
    return ApiError(status["code"], status["reason"], status["message"], status["details"])
