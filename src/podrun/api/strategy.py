"""What the API server does to an object on create, update and delete: the registries' strategies.

Create: v1 defaults and admission (`podrun.model.defaults`), a name from `generateName`, validation with the
API server's messages, and per-kind additions (a pod goes through the ServiceAccount admission, is bound to this
node and starts `Pending` with its QoS class; a namespace starts `Active`). Update: system metadata and (outside
the status subresource) the status are kept from the stored object, and pods must pass `ValidatePodUpdate`.
Delete: pods are deleted gracefully (`CheckGracefulDelete`, `BeforeDelete`), objects with finalizers wait for them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from podrun.api.errors import bad_request, forbidden, invalid_from
from podrun.api.registry import Resource
from podrun.json_types import JSON
from podrun.kubelet.admission import bind_pod, bounded_grace, deletion_grace_period
from podrun.kubelet.qos import qos_class
from podrun.model import validation
from podrun.model.defaults import default_configmap, default_pod, default_secret, generate_name
from podrun.model.errors import FieldError, InvalidError
from podrun.model.service import default_service, is_dns1035_label
from podrun.model.validation import name_is_dns_label, name_is_dns_subdomain, validate_annotations, validate_labels
from podrun.printers.pods import parse_timestamp
from podrun.services.accounts import AccountLookup, ServiceAccountNotFound
from podrun.services.accounts import admit_pod as admit_service_account
from podrun.services.registry import allocate_for_create, allocate_for_update
from podrun.timestamps import format_time

TERMINAL_PHASES = ("Succeeded", "Failed")
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
# Metadata only the API server sets; a client's values are ignored on create and update.
_SYSTEM_METADATA = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink")
_IMMUTABLE_DETAIL = "field is immutable when `immutable` is set"


@dataclass
class Prepared:
    """An object ready to store, and the warnings to send with the answer."""

    obj: JSON
    warnings: list[str] = field(default_factory=list)


def timestamp(moment: datetime) -> str:
    """RFC3339 in UTC with seconds, as metav1.Time is serialized."""
    return format_time(moment.timestamp())


def prepare_create(
    resource: Resource,
    obj: JSON,
    *,
    node_name: str,
    accounts: AccountLookup,
    stored: Callable[[], list[JSON]] = list,
) -> Prepared:
    """Default, name, admit and validate a new object; ApiError 400 (undecodable), 403 (a pod's ServiceAccount
    is missing) or 422 (invalid).

    `accounts` finds the ServiceAccount a new pod names; `stored` lists the resource's stored objects in all
    namespaces (Services allocate against them).
    """
    new = _decoded(resource, obj, _DEFAULTERS.get(resource.name))
    meta = new["metadata"]
    for key in (*_SYSTEM_METADATA, "resourceVersion", "generation"):
        meta.pop(key, None)
    if not meta.get("name") and meta.get("generateName"):
        meta["name"] = generate_name(str(meta["generateName"]))
    if resource.name == "pods":
        return _create_pod(new, node_name, accounts)
    if resource.name == "namespaces":
        given = new.get("spec")
        spec: dict[str, Any] = given if isinstance(given, dict) else {}
        new["spec"] = spec
        finalizers = list(spec.get("finalizers") or [])
        spec["finalizers"] = finalizers if "kubernetes" in finalizers else [*finalizers, "kubernetes"]
        new["status"] = {"phase": "Active"}
        _label_namespace(new)
    _validate(resource, new)
    if resource.name == "services":
        _raise_invalid(resource.kind, meta, allocate_for_create(new, stored()))
    return Prepared(new)


def prepare_update(
    resource: Resource, old: JSON, obj: JSON, *, node_name: str, stored: Callable[[], list[JSON]] = list
) -> Prepared:
    """The object to store for a PUT or PATCH of the main resource, validated against the stored one."""
    new = _decoded(resource, obj, _DEFAULTERS.get(resource.name))
    _keep_system_metadata(old, new)
    _check_no_new_finalizers(resource, old, new)
    if resource.name in ("pods", "nodes", "namespaces", "services"):
        # Their status is the kubelet's (or the namespace controller's): only the status subresource changes it.
        _copy_key(old, new, "status")
    if resource.name == "namespaces":
        # The finalizers change through `namespaces/finalize`; the name label stays (PrepareForUpdate).
        _copy_key(old, new, "spec")
        _label_namespace(new)
    if resource.name == "pods":
        return _update_pod(old, new, node_name)
    _validate(resource, new)
    if resource.name in ("configmaps", "secrets"):
        _check_immutable(resource, old, new)
    if resource.name == "services":
        _raise_invalid(resource.kind, new["metadata"], allocate_for_update(old, new, stored()))
    return Prepared(new)


def prepare_status_update(resource: Resource, old: JSON, obj: JSON) -> JSON:
    """The object to store for a PUT or PATCH of `<resource>/status`: the stored object with the new status.

    Labels and annotations may change with it (the kubelet's status manager relies on that); the spec and
    the rest of the metadata stay as stored.
    """
    if not isinstance(obj, dict):
        raise bad_request(f'{resource.kind} in version "v1" cannot be handled as a {resource.kind}')
    new = copy.deepcopy(old)
    new["status"] = copy.deepcopy(obj.get("status") or {})
    body_meta = obj.get("metadata") or {}
    for key in ("labels", "annotations"):
        if key in body_meta:
            new["metadata"][key] = copy.deepcopy(body_meta[key])
    if body_meta.get("resourceVersion"):
        new["metadata"]["resourceVersion"] = body_meta["resourceVersion"]
    if resource.name == "pods" and not new["status"].get("qosClass"):
        # The QoS class is fixed at creation; old kubelets dropped it from their updates.
        qos = (old.get("status") or {}).get("qosClass")
        if qos:
            new["status"]["qosClass"] = qos
    return new


def prepare_ephemeral_containers_update(resource: Resource, old: JSON, obj: JSON) -> JSON:
    """The pod to store for a PUT or PATCH of `pods/ephemeralcontainers` (the `podEphemeralContainersStrategy`).

    Only `spec.ephemeralContainers` is taken from the request (`dropNonEphemeralContainerUpdates`: the stored
    pod with the request's name, namespace, uid, resourceVersion and ephemeral containers); existing ones may
    not change or go (`ValidatePodEphemeralContainersUpdate`), ApiError 422 otherwise.
    """
    decoded = _decoded(resource, obj, default_pod)
    new = copy.deepcopy(old)
    for key in ("name", "namespace", "uid", "resourceVersion"):
        _copy_key(decoded["metadata"], new["metadata"], key)
    ephemeral = (decoded.get("spec") or {}).get("ephemeralContainers")
    new["spec"]["ephemeralContainers"] = ephemeral
    if ephemeral is None:
        del new["spec"]["ephemeralContainers"]
    _raise_invalid("Pod", new["metadata"], validation.validate_pod_ephemeral_containers_update(old, new))
    return new


@dataclass(frozen=True)
class DeletePlan:
    """How a DELETE proceeds: `update` the object (mark it deleted), then remove it if `remove`; with neither,
    a graceful deletion is already under way and nothing changes."""

    update: JSON | None = None
    remove: bool = False


def plan_delete(resource: Resource, obj: JSON, grace: int | None, now: datetime) -> DeletePlan:
    """`rest.BeforeDelete` with the pod strategy's `CheckGracefulDelete`.

    A pod bound to a node and not finished gets `deletionTimestamp = now + grace` and stays for the kubelet to
    stop it; a second DELETE may only shorten the grace period. Grace 0, an unbound pod or a finished one is
    removed at once. Other kinds are removed at once unless they have finalizers.
    """
    meta = obj["metadata"]
    finalizers = bool(meta.get("finalizers"))
    if meta.get("deletionTimestamp"):
        current = meta.get("deletionGracePeriodSeconds")
        if not current:
            return DeletePlan(remove=not finalizers)
        if grace is not None:
            grace = bounded_grace(grace)
        if grace is None or grace >= current:
            return DeletePlan()
        deadline = (parse_timestamp(meta["deletionTimestamp"]) or now) - timedelta(seconds=current - grace)
        return DeletePlan(_marked(obj, deadline, grace), grace == 0 and not finalizers)
    if resource.name != "pods":
        if not finalizers:
            return DeletePlan(remove=True)
        return DeletePlan(_marked(obj, now, 0))
    period = deletion_grace_period(obj, grace)
    return DeletePlan(_marked(obj, now + timedelta(seconds=period), period), period == 0 and not finalizers)


def should_remove_after_update(old: JSON, new: JSON) -> bool:
    """`shouldDeleteDuringUpdate`: the last finalizer of an object deleted without grace is gone."""
    old_meta, new_meta = old["metadata"], new["metadata"]
    if new_meta.get("finalizers") or not old_meta.get("deletionTimestamp"):
        return False
    return not old_meta.get("deletionGracePeriodSeconds")


def _marked(obj: JSON, deadline: datetime, grace: int) -> JSON:
    marked = copy.deepcopy(obj)
    marked["metadata"]["deletionTimestamp"] = timestamp(deadline)
    marked["metadata"]["deletionGracePeriodSeconds"] = grace
    return marked


# --- per kind -------------------------------------------------------------------------------------------------


def _create_pod(new: JSON, node_name: str, accounts: AccountLookup) -> Prepared:
    # Mutating admission runs before validation, as in the API server.
    try:
        pod = admit_service_account(new, accounts)
    except ServiceAccountNotFound as error:
        raise forbidden("pods", str(new["metadata"].get("name") or ""), str(error)) from None
    _raise_invalid("Pod", pod["metadata"], validation.validate_pod(pod))
    _bind(pod, node_name)
    pod["status"] = {"phase": "Pending", "qosClass": qos_class(pod)}
    return Prepared(pod, validation.pod_warnings(pod))


def _label_namespace(namespace: JSON) -> None:
    meta = namespace["metadata"]
    meta["labels"] = {**(meta.get("labels") or {}), NAMESPACE_NAME_LABEL: meta.get("name", "")}


def _bind(pod: JSON, node_name: str) -> None:
    """podrun's scheduler: every pod runs on this node, once its scheduling gates are gone."""
    bind_pod(pod, node_name)


def _update_pod(old: JSON, pod: JSON, node_name: str) -> Prepared:
    _raise_invalid("Pod", pod["metadata"], validation.validate_pod_update(old, pod))
    _bind(pod, node_name)
    old_warnings = set(validation.pod_warnings(old))
    return Prepared(pod, [text for text in validation.pod_warnings(pod) if text not in old_warnings])


def _validate(resource: Resource, obj: JSON) -> None:
    meta = obj["metadata"]
    if resource.name == "configmaps":
        errors = validation.validate_configmap(obj)
    elif resource.name == "secrets":
        errors = validation.validate_secret(obj)
    else:
        errors = _validate_meta(meta, namespaced=resource.namespaced, check=_NAME_CHECKS.get(resource.name))
    _raise_invalid(resource.kind, meta, errors)


def _validate_meta(
    meta: JSON, *, namespaced: bool, check: Callable[[str, bool], list[str]] | None = None
) -> list[FieldError]:
    """ValidateObjectMeta's checks of the name (a DNS subdomain unless `check` says otherwise), namespace, labels
    and annotations."""
    errors: list[FieldError] = []
    check = check or name_is_dns_subdomain
    name = str(meta.get("name") or "")
    if not name:
        errors.append(FieldError.required("metadata.name", "name or generateName is required"))
    errors += [FieldError.invalid("metadata.name", name, message) for message in (check(name, False) if name else [])]
    namespace = str(meta.get("namespace") or "")
    if namespaced:
        errors += [FieldError.invalid("metadata.namespace", namespace, text) for text in name_is_dns_label(namespace)]
    elif namespace:
        errors.append(FieldError.forbidden("metadata.namespace", "not allowed on this type"))
    errors += validate_labels(meta.get("labels") or {}, "metadata.labels")
    errors += validate_annotations(meta.get("annotations") or {}, "metadata.annotations")
    return errors


def _check_no_new_finalizers(resource: Resource, old: JSON, new: JSON) -> None:
    """ValidateObjectMetaUpdate's ValidateNoNewFinalizers: an object being deleted may lose finalizers, never gain
    one, or a deletion that is waiting for its finalizers to go could be held forever."""
    if not (old.get("metadata") or {}).get("deletionTimestamp"):
        return
    extra = sorted(set(new["metadata"].get("finalizers") or []) - set(old["metadata"].get("finalizers") or []))
    if extra:
        listed = ", ".join(json.dumps(name) for name in extra)  # Go's %#v of a []string
        detail = "no new finalizers can be added if the object is being deleted, found new finalizers"
        detail += f" []string{{{listed}}}"
        _raise_invalid(resource.kind, new["metadata"], [FieldError.forbidden("metadata.finalizers", detail)])


def _check_immutable(resource: Resource, old: JSON, new: JSON) -> None:
    """ValidateConfigMapUpdate / ValidateSecretUpdate: an immutable object keeps its data (and secrets their type)."""
    errors: list[FieldError] = []
    if resource.name == "secrets" and old.get("type") != new.get("type"):
        errors.append(FieldError.invalid("type", new.get("type"), "field is immutable"))
    if old.get("immutable"):
        if not new.get("immutable"):
            errors.append(FieldError.forbidden("immutable", _IMMUTABLE_DETAIL))
        for key in ("data", "binaryData") if resource.name == "configmaps" else ("data",):
            if (old.get(key) or {}) != (new.get(key) or {}):
                errors.append(FieldError.forbidden(key, _IMMUTABLE_DETAIL))
    _raise_invalid(resource.kind, new["metadata"], errors)


def _raise_invalid(kind: str, meta: JSON, errors: list[FieldError]) -> None:
    if errors:
        raise invalid_from(InvalidError(kind, str(meta.get("name") or ""), errors))


def _decoded(resource: Resource, obj: Any, defaulter: Callable[[JSON], JSON] | None) -> JSON:
    """A copy of the object as the decoder makes it: a map with a metadata map, defaulted; 400 otherwise."""
    prefix = f'{resource.kind} in version "v1" cannot be handled as a {resource.kind}'
    if not isinstance(obj, dict):
        raise bad_request(f"{prefix}: the object must be a JSON or YAML map")
    if not isinstance(obj.get("metadata", {}), dict):
        raise bad_request(f"{prefix}: metadata must be an object")
    try:
        new = defaulter(obj) if defaulter else copy.deepcopy(obj)
    except ValueError as error:
        raise bad_request(f"{prefix}: {error}") from None
    new.setdefault("metadata", {})
    new["apiVersion"], new["kind"] = resource.api_version, resource.kind
    if not resource.namespaced:
        new["metadata"].pop("namespace", None)
    return new


def _keep_system_metadata(old: JSON, new: JSON) -> None:
    for key in _SYSTEM_METADATA:
        _copy_key(old["metadata"], new["metadata"], key)


def _copy_key(source: JSON, target: JSON, key: str) -> None:
    if key in source:
        target[key] = copy.deepcopy(source[key])
    else:
        target.pop(key, None)


_NAME_CHECKS: dict[str, Callable[[str, bool], list[str]]] = {
    "namespaces": name_is_dns_label,
    "services": lambda name, _prefix: is_dns1035_label(name),
}

_DEFAULTERS: dict[str, Callable[[JSON], JSON]] = {
    "services": default_service,
    "pods": default_pod,
    "configmaps": default_configmap,
    "secrets": default_secret,
}
