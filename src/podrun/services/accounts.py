"""Service accounts: the `default` account, the pod mutation of the ServiceAccount admission plugin, pod-bound
tokens and what such a token may do.

Tokens are opaque random strings. The store keeps only their SHA-256 (an internal `serviceaccounttokens` record,
not served) with the namespace, account and pod it was issued for; a token authenticates only while that pod
(same UID) exists, as a bound token does upstream. Opaque tokens need no signing key plumbed through the server,
cannot be forged offline, and die with their pod; clients never parse a service account token, they send it.
"""

from __future__ import annotations

import copy
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from podrun.api.errors import ApiError
from podrun.api.store import Store
from podrun.json_types import JSON
from podrun.model.defaults import generate_name

DEFAULT_ACCOUNT = "default"
MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
VOLUME_PREFIX = "kube-api-access-"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
TOKEN_EXPIRATION_SECONDS = 3607
TOKEN_RESOURCE = "serviceaccounttokens"
READ_VERBS = ("get", "list", "watch")


@dataclass(frozen=True)
class ServiceAccountUser:
    """Who a service account token authenticates as."""

    namespace: str
    name: str

    @property
    def username(self) -> str:
        """`system:serviceaccount:<namespace>:<name>`."""
        return f"system:serviceaccount:{self.namespace}:{self.name}"


def default_service_account(namespace: str) -> JSON:
    """The `default` ServiceAccount the service account controller makes in every namespace."""
    return {
        "kind": "ServiceAccount",
        "apiVersion": "v1",
        "metadata": {"name": DEFAULT_ACCOUNT, "namespace": namespace},
    }


def root_ca_configmap(namespace: str, ca_pem: str) -> JSON:
    """The `kube-root-ca.crt` ConfigMap the root CA publisher keeps in every namespace."""
    return {
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {"name": ROOT_CA_CONFIGMAP, "namespace": namespace},
        "data": {"ca.crt": ca_pem},
    }


def automounts(pod: JSON, account: JSON | None) -> bool:
    """Whether the token is mounted: the pod's `automountServiceAccountToken` wins over the account's."""
    pod_choice = (pod.get("spec") or {}).get("automountServiceAccountToken")
    if pod_choice is not None:
        return bool(pod_choice)
    return (account or {}).get("automountServiceAccountToken") is not False


def admit_pod(pod: JSON, account: JSON | None = None, *, suffix: str | None = None) -> JSON:
    """A copy of `pod` as the ServiceAccount admission plugin leaves it.

    Names the `default` account when none is given and, unless automounting is off, adds the
    `kube-api-access-<suffix>` projected volume and mounts it read-only at the service account path in every
    container and init container that does not already mount something there.
    """
    new = copy.deepcopy(pod)
    spec: JSON = new.setdefault("spec", {})
    name = spec.get("serviceAccountName") or spec.get("serviceAccount") or DEFAULT_ACCOUNT
    spec["serviceAccountName"] = spec["serviceAccount"] = name
    if not automounts(new, account):
        return new
    volumes: list[JSON] = spec.setdefault("volumes", [])
    existing = next((v["name"] for v in volumes if str(v.get("name", "")).startswith(VOLUME_PREFIX)), None)
    volume_name = existing or (VOLUME_PREFIX + suffix if suffix else generate_name(VOLUME_PREFIX))
    if existing is None:
        volumes.append(api_access_volume(volume_name))
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            mounts: list[JSON] = container.setdefault("volumeMounts", [])
            if not any(mount.get("mountPath") == MOUNT_PATH for mount in mounts):
                mounts.append({"name": volume_name, "readOnly": True, "mountPath": MOUNT_PATH})
    return new


def api_access_volume(name: str) -> JSON:
    """The projected volume: a bound token, the cluster's CA and the pod's namespace."""
    return {
        "name": name,
        "projected": {
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS, "path": "token"}},
                {"configMap": {"name": ROOT_CA_CONFIGMAP, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {
                    "downwardAPI": {
                        "items": [
                            {"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}
                        ]
                    }
                },
            ],
            "defaultMode": 0o644,
        },
    }


def api_access_files(token: str, ca_pem: str, namespace: str) -> dict[str, bytes]:
    """The files of the projected volume, by path."""
    return {"token": token.encode(), "ca.crt": ca_pem.encode(), "namespace": namespace.encode()}


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
    """Service accounts may read (get, list, watch) objects of their own namespace, and discovery; nothing else."""
    if attributes is None:
        return True
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
