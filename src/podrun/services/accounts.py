"""Service accounts as pods meet them: the `default` account, the `kube-root-ca.crt` ConfigMap and the
ServiceAccount admission plugin (`plugin/pkg/admission/serviceaccount`), pure.

The admission runs on pod create, in `podrun serve` (the API strategy, accounts from the store) and in `podrun run`
(accounts from the manifests). Tokens and what they may do are `podrun.services.tokens`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable

from podrun.json_types import JSON
from podrun.model.defaults import generate_name
from podrun.model.errors import go_quote

DEFAULT_ACCOUNT = "default"
MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
VOLUME_PREFIX = "kube-api-access-"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
# serviceaccount.WarnOnlyBoundTokenExpirationSeconds: one hour and seven seconds.
TOKEN_EXPIRATION_SECONDS = 3607
# corev1.ProjectedVolumeSourceDefaultMode (0644), set explicitly by the plugin.
PROJECTED_DEFAULT_MODE = 0o644

# Finds a ServiceAccount by namespace and name; None when it does not exist.
AccountLookup = Callable[[str, str], JSON | None]


class ServiceAccountNotFound(Exception):
    """The pod names a ServiceAccount its namespace does not have; the API server answers 403 Forbidden."""

    def __init__(self, namespace: str, name: str) -> None:
        self.namespace = namespace
        self.name = name
        super().__init__(
            f"error looking up service account {namespace}/{name}: serviceaccount {go_quote(name)} not found"
        )


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


def accounts_with_defaults(accounts: Iterable[JSON]) -> AccountLookup:
    """A lookup over `accounts` in which every namespace also has its `default` account (as the controller makes
    it), for `podrun run`, whose namespaces exist only as names."""
    known = {(str(a["metadata"].get("namespace") or "default"), str(a["metadata"]["name"])): a for a in accounts}

    def find(namespace: str, name: str) -> JSON | None:
        found = known.get((namespace, name))
        if found is None and name == DEFAULT_ACCOUNT:
            return default_service_account(namespace)
        return found

    return find


def automounts(pod: JSON, account: JSON | None) -> bool:
    """Whether the token is mounted: the pod's `automountServiceAccountToken` wins over the account's."""
    pod_choice = (pod.get("spec") or {}).get("automountServiceAccountToken")
    if pod_choice is not None:
        return bool(pod_choice)
    return (account or {}).get("automountServiceAccountToken") is not False


def admit_pod(pod: JSON, find_account: AccountLookup, *, suffix: str | None = None) -> JSON:
    """A copy of a new pod as the ServiceAccount admission plugin leaves it; raises ServiceAccountNotFound.

    Names the `default` account when none is given; the account must exist in the pod's namespace. Unless
    automounting is off, every init and regular container that mounts nothing at the service account path gets
    the `kube-api-access-<suffix>` projected volume there, read-only (the volume is added when some container
    needs it). A pod without `imagePullSecrets` takes the account's.
    """
    new = copy.deepcopy(pod)
    namespace = str(new.get("metadata", {}).get("namespace") or "default")
    spec: JSON = new.setdefault("spec", {})
    name = str(spec.get("serviceAccountName") or spec.get("serviceAccount") or DEFAULT_ACCOUNT)
    spec["serviceAccountName"] = spec["serviceAccount"] = name
    account = find_account(namespace, name)
    if account is None:
        raise ServiceAccountNotFound(namespace, name)
    if automounts(new, account):
        _mount_token(spec, suffix)
    if not spec.get("imagePullSecrets") and account.get("imagePullSecrets"):
        spec["imagePullSecrets"] = [{"name": ref.get("name", "")} for ref in account["imagePullSecrets"]]
    return new


def api_access_volume(name: str) -> JSON:
    """The projected volume: a bound token, the cluster's CA and the pod's namespace (`TokenVolumeSource`)."""
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
            "defaultMode": PROJECTED_DEFAULT_MODE,
        },
    }


def _mount_token(spec: JSON, suffix: str | None) -> None:
    """`mountServiceAccountToken`: reuse a `kube-api-access-*` volume the pod has, else name a new one."""
    volumes: list[JSON] = spec.get("volumes") or []
    # Malformed entries (a null container) are left for validation to report.
    named = [v for v in volumes if isinstance(v, dict)]
    existing = next((v["name"] for v in named if str(v.get("name", "")).startswith(VOLUME_PREFIX)), None)
    volume_name = existing or (VOLUME_PREFIX + suffix if suffix else generate_name(VOLUME_PREFIX))
    mount = {"name": volume_name, "readOnly": True, "mountPath": MOUNT_PATH}
    needs_volume = False
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            if not isinstance(container, dict):
                continue
            mounts: list[JSON] = container.get("volumeMounts") or []
            if not any(isinstance(m, dict) and m.get("mountPath") == MOUNT_PATH for m in mounts):
                container["volumeMounts"] = [*mounts, dict(mount)]
                needs_volume = True
    if existing is None and needs_volume:
        spec["volumes"] = [*volumes, api_access_volume(volume_name)]
