"""Service account tokens: issued bound to a pod, authenticated, and read-only authorized; and the admission's
lookup of accounts in the store.

Tokens are opaque random strings. The store keeps only their SHA-256 (an internal `serviceaccounttokens` record,
not served) with the namespace, account and pod it was issued for; a token authenticates only while that pod
(same UID) exists, as a bound token does upstream. Opaque tokens need no signing key plumbed through the server,
cannot be forged offline, and die with their pod; clients never parse a service account token, they send it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from podrun.api.errors import ApiError
from podrun.api.store import Store
from podrun.json_types import JSON
from podrun.services.accounts import DEFAULT_ACCOUNT, default_service_account

TOKEN_RESOURCE = "serviceaccounttokens"
READ_VERBS = ("get", "list", "watch")
AUTHORIZATION_GROUP = "authorization.k8s.io"
SELF_REVIEWS = ("selfsubjectaccessreviews", "selfsubjectrulesreviews")
"""What the `system:basic-user` role lets every authenticated user create: questions about its own permissions."""
AUTHENTICATION_GROUP = "authentication.k8s.io"
SELF_SUBJECT_REVIEWS = "selfsubjectreviews"
"""And the question who it is (`kubectl auth whoami`), also granted by `system:basic-user`."""


@dataclass(frozen=True)
class ServiceAccountUser:
    """Who a service account token authenticates as."""

    namespace: str
    name: str

    @property
    def username(self) -> str:
        """`system:serviceaccount:<namespace>:<name>`."""
        return f"system:serviceaccount:{self.namespace}:{self.name}"


def issue_token(store: Store, pod: JSON) -> str:
    """A new token for the pod's service account, bound to the pod (recorded by its hash only)."""
    meta, spec = pod["metadata"], pod.get("spec") or {}
    token = secrets.token_urlsafe(32)
    store.create(
        TOKEN_RESOURCE,
        {
            "metadata": {"name": _token_id(token), "namespace": meta["namespace"]},
            "serviceAccountName": spec.get("serviceAccountName") or DEFAULT_ACCOUNT,
            "pod": {"name": meta["name"], "uid": meta.get("uid", "")},
        },
    )
    return token


def authenticate_token(store: Store, token: str) -> ServiceAccountUser | None:
    """The service account a token belongs to, while the pod it was issued for exists; None otherwise."""
    token_id = _token_id(token)
    record = next((item for item in store.list(TOKEN_RESOURCE, None)[0] if item["metadata"]["name"] == token_id), None)
    if record is None:
        return None
    namespace = record["metadata"]["namespace"]
    try:
        pod = store.get("pods", namespace, record["pod"]["name"])
    except ApiError:
        return None
    if pod["metadata"].get("uid") != record["pod"]["uid"]:
        return None
    return ServiceAccountUser(namespace, record["serviceAccountName"])


def forget_orphaned_tokens(store: Store) -> int:
    """Delete the records of tokens whose pod is gone (or was replaced by a pod of the same name): they can never
    authenticate again, and a churn of pods would otherwise keep one record per pod forever. How many."""
    orphaned = []
    for record in store.list(TOKEN_RESOURCE, None)[0]:
        meta, bound = record["metadata"], record.get("pod") or {}
        try:
            pod = store.get("pods", meta["namespace"], bound.get("name", ""))
        except ApiError:
            pod = None
        if pod is None or pod["metadata"].get("uid") != bound.get("uid"):
            orphaned.append(meta)
    for meta in orphaned:
        store.delete(TOKEN_RESOURCE, meta["namespace"], meta["name"])
    return len(orphaned)


@dataclass(frozen=True)
class RequestAttributes:
    """What the authorizer decides on: `GET /api/v1/namespaces/ns/pods?watch=1` is watch pods in ns."""

    verb: str
    resource: str
    subresource: str
    name: str
    namespace: str | None
    group: str


def request_attributes(method: str, path: str, query: Mapping[str, str]) -> RequestAttributes | None:
    """The resource request a method and path make, as the API server's RequestInfo; None for other paths."""
    parts = [part for part in path.split("/") if part]
    if parts[:2] == ["api", "v1"]:
        group, rest = "", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, rest = parts[1], parts[3:]
    else:
        return None
    if not rest:
        return None
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    elif rest[0] == "namespaces" and len(rest) == 2:
        namespace = rest[1]
    resource, name, subresource = rest[0], (rest[1:2] or [""])[0], (rest[2:3] or [""])[0]
    verb = _verb(method, bool(name), query)
    return RequestAttributes(verb, resource, subresource, name, namespace, group)


def allowed(user: ServiceAccountUser, attributes: RequestAttributes | None) -> bool:
    """Service accounts may read (get, list, watch) objects of their own namespace, and discovery, and ask what they
    may do (`system:basic-user`); nothing else."""
    if attributes is None:
        return True
    if (attributes.group == AUTHORIZATION_GROUP and attributes.resource in SELF_REVIEWS) or (
        attributes.group == AUTHENTICATION_GROUP and attributes.resource == SELF_SUBJECT_REVIEWS
    ):
        return attributes.verb == "create" and not attributes.subresource
    return attributes.verb in READ_VERBS and attributes.namespace == user.namespace and not attributes.subresource


def denial_detail(user: ServiceAccountUser, attributes: RequestAttributes) -> str:
    """The RBAC authorizer's reason, as the API server words it after `<resource> is forbidden: `."""
    resource = f"{attributes.resource}/{attributes.subresource}" if attributes.subresource else attributes.resource
    where = f' in the namespace "{attributes.namespace}"' if attributes.namespace else " at the cluster scope"
    return (
        f'User "{user.username}" cannot {attributes.verb} resource "{resource}" '
        f'in API group "{attributes.group}"{where}'
    )


def _verb(method: str, named: bool, query: Mapping[str, str]) -> str:
    if method in ("GET", "HEAD"):
        if query.get("watch") in ("1", "true"):
            return "watch"
        return "get" if named else "list"
    if method == "DELETE":
        return "delete" if named else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


def _token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def find_service_account(store: Store, namespace: str, name: str) -> JSON | None:
    """The admission's lookup: the stored ServiceAccount, or None.

    The `default` account of an existing namespace is created on demand when the controller has not made it
    yet, so a pod created right after its namespace does not race into a 403 (upstream retries the lookup).
    """
    try:
        return store.get("serviceaccounts", namespace, name)
    except ApiError as error:
        if error.code != 404:
            raise
    if name != DEFAULT_ACCOUNT:
        return None
    try:
        store.get("namespaces", None, namespace)
    except ApiError:
        return None
    try:
        return store.create("serviceaccounts", default_service_account(namespace))
    except ApiError:
        # Created meanwhile by the controller, or the namespace is terminating.
        try:
            return store.get("serviceaccounts", namespace, name)
        except ApiError:
            return None
