"""Resource requirements, resize policies and security contexts of containers and pods."""

from __future__ import annotations

from typing import Any

from podrun.json_types import JSON
from podrun.model.errors import FieldError
from podrun.model.quantity import Quantity, from_json
from podrun.model.validation.formats import NEGATIVE, inclusive_range_error, is_qualified_name
from podrun.model.validation.readers import Errors, as_dict, as_int, as_list, as_str, name_errors, read_quantity
from podrun.model.validation.volumes import local_descending_path

_STANDARD_CONTAINER_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage"})


_STANDARD_RESOURCES = _STANDARD_CONTAINER_RESOURCES | {
    "requests.cpu", "requests.memory", "requests.ephemeral-storage", "limits.cpu", "limits.memory",
    "limits.ephemeral-storage", "pods", "resourcequotas", "services", "replicationcontrollers", "secrets",
    "configmaps", "persistentvolumeclaims", "storage", "requests.storage", "services.nodeports",
    "services.loadbalancers",
}  # fmt: skip


def validate_resource_requirements(resources: JSON, path: str) -> Errors:
    """Container resources: known names, non-negative quantities, requests no larger than limits."""
    errors: Errors = []
    limits_path, requests_path = f"{path}.limits", f"{path}.requests"
    limits: dict[str, Quantity] = {}
    cpu_or_memory = huge_pages = False
    for name, raw in sorted(as_dict(resources.get("limits")).items()):
        quantity = _check_resource(name, raw, f"{limits_path}[{name}]", errors)
        if quantity is not None:
            limits[name] = quantity
        huge_pages = huge_pages or name.startswith("hugepages-")
        cpu_or_memory = cpu_or_memory or name in ("cpu", "memory")
    for name, raw in sorted(as_dict(resources.get("requests")).items()):
        quantity = _check_resource(name, raw, f"{requests_path}[{name}]", errors)
        limit = limits.get(name)
        if quantity is not None and limit is not None:
            if quantity != limit and not _overcommit_allowed(name):
                errors.append(
                    FieldError.invalid(requests_path, str(quantity), f"must be equal to {name} limit of {limit}")
                )
            elif quantity > limit:
                errors.append(
                    FieldError.invalid(
                        requests_path, str(quantity), f"must be less than or equal to {name} limit of {limit}"
                    )
                )
        elif name not in as_dict(resources.get("limits")) and not _overcommit_allowed(name):
            errors.append(FieldError.required(limits_path, "Limit must be set for non overcommitable resources"))
        huge_pages = huge_pages or name.startswith("hugepages-")
        cpu_or_memory = cpu_or_memory or name in ("cpu", "memory")
    if huge_pages and not cpu_or_memory:
        errors.append(FieldError.forbidden(path, "HugePages require cpu or memory"))
    return errors


def _check_resource(name: str, raw: Any, path: str, errors: Errors) -> Quantity | None:
    errors += _validate_container_resource_name(name, path)
    quantity = read_quantity(raw, path, errors)
    if quantity is None:
        return None
    if quantity.value < 0:
        errors.append(FieldError.invalid(path, str(quantity), NEGATIVE))
    if _is_extended_resource(name) and quantity.milli_value() % 1000:
        errors.append(FieldError.invalid(path, quantity, "must be an integer"))
    if name.startswith("hugepages-") and not _divides_into_pages(name, quantity):
        errors.append(FieldError.invalid(path, str(quantity), f"{quantity} is not positive integer multiple of {name}"))
    return quantity


def _validate_container_resource_name(name: str, path: str) -> Errors:
    errors = name_errors(is_qualified_name(name), path, name)
    if (
        not errors
        and "/" not in name
        and name not in _STANDARD_RESOURCES
        and not name.startswith(("hugepages-", "requests.hugepages-"))
    ):
        errors.append(FieldError.invalid(path, name, "must be a standard resource type or fully qualified"))
    if "/" not in name:
        if name not in _STANDARD_CONTAINER_RESOURCES and not name.startswith("hugepages-"):
            errors.append(FieldError.invalid(path, name, "must be a standard resource for containers"))
    elif not _is_native_resource(name) and not _is_extended_resource(name):
        errors.append(FieldError.invalid(path, name, "doesn't follow extended resource name standard"))
    return errors


def _is_native_resource(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def _is_extended_resource(name: str) -> bool:
    if _is_native_resource(name) or name.startswith("requests."):
        return False
    return not is_qualified_name("requests." + name)


def _overcommit_allowed(name: str) -> bool:
    return _is_native_resource(name) and not name.startswith("hugepages-")


def _divides_into_pages(name: str, quantity: Quantity) -> bool:
    try:
        page = from_json(name.removeprefix("hugepages-"))
    except ValueError:
        return False
    if page.value <= 0 or page.milli_value() % 1000:
        return False
    return quantity.whole_value() % page.whole_value() == 0


def validate_resize_policy(policies: list[JSON], path: str, restart_policy: str) -> Errors:
    """A container's resizePolicy: known resources, once each, with a supported restart policy."""
    errors: Errors = []
    seen: set[str] = set()
    for index, policy in enumerate(policies):
        resource = as_str(policy.get("resourceName"))
        if resource in seen:
            errors.append(FieldError.duplicate(f"{path}[{index}]", resource))
        seen.add(resource)
        restart = as_str(policy.get("restartPolicy"))
        for value, supported in (
            (resource, ["cpu", "memory"]),
            (restart, ["NotRequired", "RestartContainer"]),
        ):
            if not value:
                errors.append(FieldError.required(path))
            elif value not in supported:
                errors.append(FieldError.not_supported(path, value, supported))
        if restart_policy == "Never" and restart != "NotRequired":
            errors.append(FieldError.invalid(path, restart, "must be 'NotRequired' when `restartPolicy` is 'Never'"))
    return errors


def _id_range(context: JSON, keys: tuple[str, ...], path: str) -> Errors:
    errors: Errors = []
    for key in keys:
        value = as_int(context.get(key))
        if value is not None and not 0 <= value <= 0xFFFFFFFF:
            errors.append(FieldError.invalid(f"{path}.{key}", value, inclusive_range_error(0, 0xFFFFFFFF)))
    return errors


def _validate_seccomp(profile: Any, path: str) -> Errors:
    if profile is None:
        return []
    profile = as_dict(profile)
    kind = as_str(profile.get("type"))
    errors: Errors = []
    supported = ["Localhost", "RuntimeDefault", "Unconfined"]
    if not kind:
        errors.append(FieldError.required(f"{path}.type", "type is required when seccompProfile is set"))
    elif kind not in supported:
        errors.append(FieldError.not_supported(f"{path}.type", kind, supported))
    if kind == "Localhost":
        if profile.get("localhostProfile") is None:
            errors.append(FieldError.required(f"{path}.localhostProfile", "must be set when seccomp type is Localhost"))
        else:
            errors += local_descending_path(as_str(profile["localhostProfile"]), f"{path}.localhostProfile")
    return errors


def validate_container_security(context: Any, path: str, host_users: bool) -> Errors:
    """A container's securityContext: ids, procMount and seccomp profile."""
    if context is None:
        return []
    context = as_dict(context)
    errors = _id_range(context, ("runAsUser", "runAsGroup"), path)
    proc_mount = context.get("procMount")
    if proc_mount is not None:
        if proc_mount not in ("Default", "Unmasked"):
            errors.append(FieldError.not_supported(f"{path}.procMount", proc_mount, ["Default", "Unmasked"]))
        if host_users and proc_mount == "Unmasked":
            errors.append(
                FieldError.invalid(f"{path}.procMount", proc_mount, "`hostUsers` must be false to use `Unmasked`")
            )
    return errors + _validate_seccomp(context.get("seccompProfile"), f"{path}.seccompProfile")


def validate_pod_security(spec: JSON) -> Errors:
    """The pod's securityContext: ids, groups, fsGroupChangePolicy, seccomp; shareProcessNamespace with hostPID."""
    context = as_dict(spec.get("securityContext"))
    path = "spec.securityContext"
    errors = _id_range(context, ("fsGroup", "runAsUser", "runAsGroup"), path)
    for index, group in enumerate(as_list(context.get("supplementalGroups"))):
        value = as_int(group)
        if value is not None and not 0 <= value <= 0xFFFFFFFF:
            errors.append(
                FieldError.invalid(f"{path}.supplementalGroups[{index}]", value, inclusive_range_error(0, 0xFFFFFFFF))
            )
    # Internally these live in the security context, and so do their paths.
    if spec.get("shareProcessNamespace") is True and spec.get("hostPID") is True:
        errors.append(
            FieldError.invalid(
                f"{path}.shareProcessNamespace",
                True,
                "ShareProcessNamespace and HostPID cannot both be enabled",
            )
        )
    policy = context.get("fsGroupChangePolicy")
    if policy is not None and policy not in ("Always", "OnRootMismatch"):
        errors.append(FieldError.not_supported(f"{path}.fsGroupChangePolicy", policy, ["Always", "OnRootMismatch"]))
    return errors + _validate_seccomp(context.get("seccompProfile"), f"{path}.seccompProfile")
