"""authorization.k8s.io/v1: SelfSubjectAccessReview and SelfSubjectRulesReview (`kubectl auth can-i`), and
authentication.k8s.io/v1: SelfSubjectReview (`kubectl auth whoami`).

The answers are what podrun's own authorizer (`server._authenticate` over `services.tokens.allowed`) would decide
for the credentials of the request: the admin token (or no token configured) may do anything; a service account
token may get, list and watch the objects of its own namespace (its namespace object included, subresources
excluded), ask these questions (`system:basic-user`), and reach the paths that are no resource (discovery, health,
OpenAPI). Who the admin is: `podrun-admin` in `system:masters`, as kind's admin is `kubernetes-admin` in a group
bound to cluster-admin. Reviews are not stored.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from podrun.api.errors import bad_request, invalid_from
from podrun.api.registry import GROUP_RESOURCES, RESOURCES
from podrun.api.wire import json_response, read_body
from podrun.json_types import JSON
from podrun.model.errors import FieldError, InvalidError
from podrun.services.tokens import (
    AUTHENTICATION_GROUP,
    AUTHORIZATION_GROUP,
    READ_VERBS,
    SELF_REVIEWS,
    SELF_SUBJECT_REVIEWS,
    RequestAttributes,
    ServiceAccountUser,
    allowed,
)

GROUP = AUTHORIZATION_GROUP
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
ACCESS_REVIEWS, RULES_REVIEWS = SELF_REVIEWS
REVIEW_KINDS = {ACCESS_REVIEWS: "SelfSubjectAccessReview", RULES_REVIEWS: "SelfSubjectRulesReview"}
"""The authorization review resources, by name, with their kinds."""
AUTHENTICATION_VERSION = f"{AUTHENTICATION_GROUP}/{VERSION}"
REVIEWS = {API_VERSION: REVIEW_KINDS, AUTHENTICATION_VERSION: {SELF_SUBJECT_REVIEWS: "SelfSubjectReview"}}
"""The review resources by group version, with their kinds: all `create`-only, cluster-scoped and not stored."""
ADMIN_USER_INFO: JSON = {"username": "podrun-admin", "groups": ["system:masters", "system:authenticated"]}

REQUEST_USER = web.RequestKey("podrun.user", ServiceAccountUser)
"""The request key under which the authentication middleware leaves the service account a token authenticated
(absent for the admin token)."""

_EVERYTHING = ["*"]


def requesting_user(request: web.Request) -> ServiceAccountUser | None:
    """The service account the request authenticated as; None for the admin (or when no token is configured)."""
    return request.get(REQUEST_USER)


async def create_review(request: web.Request, group_version: str, resource: str) -> web.Response:
    """POST of a SelfSubjectAccessReview, SelfSubjectRulesReview or SelfSubjectReview: the review with its status
    filled in."""
    kind = REVIEWS[group_version][resource]
    body = await read_body(request, kind)
    if not isinstance(body, dict):
        raise bad_request(f"the body of a {kind} must be an object")
    spec = body.get("spec")
    if spec is not None and not isinstance(spec, dict):
        raise bad_request(f"json: cannot unmarshal {type(spec).__name__} into Go struct field {kind}.spec")
    spec = spec or {}
    user = requesting_user(request)
    if resource == SELF_SUBJECT_REVIEWS:
        review = {"kind": kind, "apiVersion": group_version, "metadata": {"creationTimestamp": None}}
        return json_response({**review, "status": {"userInfo": user_info(user)}}, status=201)
    review_status = _access_review_status if resource == ACCESS_REVIEWS else _rules_review_status
    status = review_status(user, spec)
    review = {
        "kind": kind,
        "apiVersion": API_VERSION,
        "metadata": {"creationTimestamp": None},
        "spec": spec,
        "status": status,
    }
    return json_response(review, status=201)


def user_info(user: ServiceAccountUser | None) -> JSON:
    """The UserInfo the authenticator gives the credentials: the admin, or a service account with the groups the
    service account authenticator adds."""
    if user is None:
        return dict(ADMIN_USER_INFO)
    groups = ["system:serviceaccounts", f"system:serviceaccounts:{user.namespace}", "system:authenticated"]
    return {"username": user.username, "groups": groups}


def _access_review_status(user: ServiceAccountUser | None, spec: JSON) -> JSON:
    resource = spec.get("resourceAttributes")
    non_resource = spec.get("nonResourceAttributes")
    errors = []
    if resource is not None and non_resource is not None:
        errors.append(
            FieldError.invalid(
                "spec.nonResourceAttributes", non_resource, "cannot be specified in combination with resourceAttributes"
            )
        )
    if resource is None and non_resource is None:
        errors.append(
            FieldError.invalid(
                "spec.resourceAttributes", None, "exactly one of nonResourceAttributes or resourceAttributes must be "
                "specified"
            )
        )  # fmt: skip
    for path, value in (("spec.resourceAttributes", resource), ("spec.nonResourceAttributes", non_resource)):
        if value is not None and not isinstance(value, dict):
            errors.append(FieldError.invalid(path, value, "must be an object"))
    if errors:
        raise invalid_from(InvalidError("SelfSubjectAccessReview", "", errors, group=GROUP))
    if user is None:
        return {"allowed": True}
    if resource is None:
        # podrun's authorizer lets every credential reach the paths that are no resource.
        return {"allowed": True}
    attributes = _request_attributes(resource)
    if allowed(user, attributes):
        return {"allowed": True, "reason": f"podrun: {user.username} may read its own namespace"}
    return {"allowed": False}


def _request_attributes(resource: JSON) -> RequestAttributes:
    """What a request for these ResourceAttributes would be: a cluster-scoped resource has no namespace."""
    name = _text(resource, "resource")
    group = _text(resource, "group")
    namespace: str | None = _text(resource, "namespace") or None
    table = RESOURCES if not group else GROUP_RESOURCES.get(f"{group}/{_text(resource, 'version') or 'v1'}", {})
    served = table.get(name)
    if served is not None and not served.namespaced:
        namespace = _text(resource, "name") or None if name == "namespaces" else None
    return RequestAttributes(
        verb=_text(resource, "verb"),
        resource=name,
        subresource=_text(resource, "subresource"),
        name=_text(resource, "name"),
        namespace=namespace,
        group=group,
    )


def _text(obj: JSON, key: str) -> str:
    value: Any = obj.get(key)
    return value if isinstance(value, str) else ""


def _rules_review_status(user: ServiceAccountUser | None, spec: JSON) -> JSON:
    if user is None:
        resource_rules = [{"verbs": _EVERYTHING, "apiGroups": _EVERYTHING, "resources": _EVERYTHING}]
    else:
        resource_rules = [
            {"verbs": ["create"], "apiGroups": [GROUP], "resources": list(SELF_REVIEWS)},
            {"verbs": ["create"], "apiGroups": [AUTHENTICATION_GROUP], "resources": [SELF_SUBJECT_REVIEWS]},
        ]
    if user is not None and _text(spec, "namespace") == user.namespace:
        read = list(READ_VERBS)
        resource_rules += [
            {"verbs": read, "apiGroups": [""], "resources": [r.name for r in RESOURCES.values() if r.namespaced]},
            *(
                {
                    "verbs": read,
                    "apiGroups": [group_version.partition("/")[0]],
                    "resources": [r.name for r in resources.values() if r.namespaced],
                }
                for group_version, resources in GROUP_RESOURCES.items()
            ),
            {"verbs": read, "apiGroups": [""], "resources": ["namespaces"], "resourceNames": [user.namespace]},
        ]
    return {
        "resourceRules": resource_rules,
        "nonResourceRules": [{"verbs": _EVERYTHING, "nonResourceURLs": _EVERYTHING}],
        "incomplete": False,
    }
