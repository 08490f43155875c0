"""A container's environment, built as the kubelet's `makeEnvironmentVariables` builds it.

Source: `pkg/kubelet/kubelet_pods.go` (`makeEnvironmentVariables`, `podFieldSelectorRuntimeValue`,
`containerResourceRuntimeValue`, `defaultPodLimitsForDownwardAPI`), `pkg/fieldpath/fieldpath.go`
(`ExtractFieldPathAsString`, `FormatMap`), `pkg/apis/core/pods/helpers.go` (`ConvertDownwardAPIFieldLabel`) and
`pkg/api/v1/resource/helpers.go` (`ExtractContainerResourceValue`, `MergeContainerResourceLimits`).

Service variables (`getServiceEnvVarMap`, `podrun.services.envvars`): the `kubernetes` Service of `default`
always, the pod's own namespace's Services with `enableServiceLinks`, as they are when the container starts.
`$(VAR)` in an `env` value sees the container's variables first, then the service variables.

Order: the service variables a container does not define itself first, then `envFrom`, then `env` in
declaration order, a later definition replacing an earlier one in place. The kubelet collects them in a Go
map and so hands them to the runtime in random order; here the order is deterministic: the first definition's
position, ConfigMap/Secret keys sorted as the API serves them, Services by name.

Since v1.30 (`RelaxedEnvironmentVariableValidation`) the kubelet no longer drops `envFrom` keys that are not
C identifiers, nor records `InvalidEnvironmentVariableNames`: ConfigMap and Secret keys are all valid relaxed
names. So every key is kept.

The objects are plain API dicts. A Secret's `data` is base64, as the API serves it (`stringData` is folded
into `data` on create); values are decoded to `str` with `surrogateescape`, so bytes that are not UTF-8 survive
a round trip through `os.fsencode`.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any

from podrun.kubelet.expansion import expand, mapping_for
from podrun.model.errors import go_quote
from podrun.services.envvars import MASTER_SERVICE_NAMESPACE, service_env_vars

Obj = dict[str, Any]
Getter = Callable[[str], Obj | None]
# The Services of a namespace.
ServiceLister = Callable[[str], list[Obj]]

# The limits that default to node allocatable when a container sets none (MergeContainerResourceLimits).
# `node_allocatable` gives cpu in millicores and the others in bytes.
ALLOCATABLE_RESOURCES = ("cpu", "memory", "ephemeral-storage")


class ContainerConfigError(Exception):
    """The container cannot be configured: the kubelet's `CreateContainerConfigError`, with its message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def resolve_env(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    *,
    get_configmap: Getter,
    get_secret: Getter,
    pod_ip: str,
    host_ip: str,
    node_name: str,
    node_allocatable: Mapping[str, int],
    list_services: ServiceLister,
) -> list[tuple[str, str]]:
    """The container's environment variables, in order; raises ContainerConfigError as the kubelet fails.

    `get_configmap`/`get_secret` return the object in the pod's namespace, or None if it does not exist.
    `node_allocatable` maps `cpu` (millicores), `memory` and `ephemeral-storage` (bytes). `list_services` gives
    a namespace's Services, for the service variables.
    """
    namespace = _namespace(pod)
    objects = _ObjectCache(namespace, get_configmap, get_secret)
    service_env = dict(_service_variables(pod, namespace, list_services))
    env: dict[str, str] = {}

    for source in _dicts(container.get("envFrom")):
        prefix = source.get("prefix") or ""
        if isinstance(source.get("configMapRef"), dict):
            ref = source["configMapRef"]
            configmap = objects.configmap(ref.get("name", ""), optional=bool(ref.get("optional")))
            if configmap is not None:
                for key, value in sorted((configmap.get("data") or {}).items()):
                    env[prefix + key] = value
        elif isinstance(source.get("secretRef"), dict):
            ref = source["secretRef"]
            secret = objects.secret(ref.get("name", ""), optional=bool(ref.get("optional")))
            if secret is not None:
                for key, value in sorted(secret_data(secret).items()):
                    env[prefix + key] = _bytes_to_str(value)

    # The lookup sees `env` as it grows: a value may use any variable defined before it, or a service variable.
    lookup = mapping_for(env, service_env)
    for var in _dicts(container.get("env")):
        name = var.get("name", "")
        value = var.get("value") or ""
        value_from = var.get("valueFrom")
        if value:
            value = expand(value, lookup)
        elif isinstance(value_from, dict):
            resolved = _value_from(value_from, pod, container, objects, pod_ip, host_ip, node_name, node_allocatable)
            if resolved is None:
                # An optional source that is missing leaves the variable undefined, not empty.
                continue
            value = resolved
        env[name] = value
    return [(name, value) for name, value in service_env.items() if name not in env] + list(env.items())


def secret_data(secret: Mapping[str, Any]) -> dict[str, bytes]:
    """A Secret's `data`, base64-decoded."""
    return {key: base64.b64decode(value or "") for key, value in (secret.get("data") or {}).items()}


def pod_field_value(pod: Mapping[str, Any], field_path: str) -> str:
    """fieldpath.ExtractFieldPathAsString: a `metadata.*` field, as env vars and downwardAPI files show it.

    Raises ContainerConfigError for a path it does not support. Subscript keys are not re-validated: the
    API server has already checked them (`validateDownwardAPIFieldSelector`).
    """
    meta = pod.get("metadata") or {}
    subscripted = _split_subscript(field_path)
    if subscripted is not None:
        path, key = subscripted
        if path in ("metadata.annotations", "metadata.labels"):
            return (meta.get(path.removeprefix("metadata.")) or {}).get(key, "")
        raise ContainerConfigError(f"fieldPath {go_quote(field_path)} does not support subscript")
    if field_path in ("metadata.annotations", "metadata.labels"):
        return format_map(meta.get(field_path.removeprefix("metadata.")) or {})
    if field_path in ("metadata.name", "metadata.namespace", "metadata.uid"):
        return str(meta.get(field_path.removeprefix("metadata."), ""))
    raise ContainerConfigError(f"unsupported fieldPath: {field_path}")


def format_map(values: Mapping[str, str]) -> str:
    """FormatMap: `key="value"` lines (Go-quoted), sorted by key, without a final newline."""
    return "\n".join(f"{key}={go_quote(values[key])}" for key in sorted(values))


def container_resource_value(
    ref: Mapping[str, Any],
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    node_allocatable: Mapping[str, int],
) -> str:
    """A `resourceFieldRef` value: ExtractResourceValueByContainerNameAndNodeAllocatable.

    `container` is used unless the reference names another one. A limit that is unset or zero is the node's
    allocatable amount (MergeContainerResourceLimits); the result is rounded up to whole divisors.
    """
    # The quantities (and decimal, fractions) load with the first pod that asks for one: an idle server holds none.
    from podrun.model.quantity import from_json, to_bytes, to_millis

    target = container
    container_name = ref.get("containerName") or ""
    if container_name:
        target = _find_container(pod, container_name)
    resources = target.get("resources") or {}
    resource = ref.get("resource", "")
    kind, _, name = resource.partition(".")
    divisor = from_json(ref.get("divisor"))
    if divisor.is_zero():
        divisor = from_json("1")
    if kind not in ("limits", "requests") or not (name in ALLOCATABLE_RESOURCES or name.startswith("hugepages-")):
        raise ContainerConfigError(f"unsupported container resource : {resource}")
    quantity = (resources.get(kind) or {}).get(name)
    if name == "cpu":
        amount = to_millis(quantity) if quantity is not None else 0
        if kind == "limits" and amount == 0:
            amount = node_allocatable.get("cpu", 0)
        return str(_ceil_div(amount, divisor.milli_value()))
    amount = to_bytes(quantity) if quantity is not None else 0
    if kind == "limits" and amount == 0 and name in ALLOCATABLE_RESOURCES:
        amount = node_allocatable.get(name, 0)
    return str(_ceil_div(amount, divisor.whole_value()))


def _value_from(
    value_from: Mapping[str, Any],
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    objects: _ObjectCache,
    pod_ip: str,
    host_ip: str,
    node_name: str,
    node_allocatable: Mapping[str, int],
) -> str | None:
    """Step 1b of makeEnvironmentVariables: resolve one `valueFrom`; None when an optional source is missing."""
    if isinstance(value_from.get("fieldRef"), dict):
        ref = value_from["fieldRef"]
        return _pod_field_runtime_value(ref, pod, pod_ip, host_ip, node_name)
    if isinstance(value_from.get("resourceFieldRef"), dict):
        return container_resource_value(value_from["resourceFieldRef"], pod, container, node_allocatable)
    if isinstance(value_from.get("configMapKeyRef"), dict):
        ref = value_from["configMapKeyRef"]
        name, key, optional = ref.get("name", ""), ref.get("key", ""), bool(ref.get("optional"))
        configmap = objects.configmap(name, optional=optional)
        if configmap is None:
            return None
        data = configmap.get("data") or {}
        if key not in data:
            if optional:
                return None
            raise ContainerConfigError(f"couldn't find key {key} in ConfigMap {objects.namespace}/{name}")
        return str(data[key])
    if isinstance(value_from.get("secretKeyRef"), dict):
        ref = value_from["secretKeyRef"]
        name, key, optional = ref.get("name", ""), ref.get("key", ""), bool(ref.get("optional"))
        secret = objects.secret(name, optional=optional)
        if secret is None:
            return None
        values = secret_data(secret)
        if key not in values:
            if optional:
                return None
            raise ContainerConfigError(f"couldn't find key {key} in Secret {objects.namespace}/{name}")
        return _bytes_to_str(values[key])
    # A valueFrom with no source the kubelet knows (such as the alpha fileKeyRef): the value stays empty.
    return ""


def _pod_field_runtime_value(
    ref: Mapping[str, Any], pod: Mapping[str, Any], pod_ip: str, host_ip: str, node_name: str
) -> str:
    """podFieldSelectorRuntimeValue: the node- and status-dependent fields, else ExtractFieldPathAsString."""
    path = _convert_field_label(ref.get("apiVersion") or "v1", ref.get("fieldPath", ""))
    spec = pod.get("spec") or {}
    match path:
        case "spec.nodeName":
            return str(spec.get("nodeName") or node_name)
        case "spec.serviceAccountName":
            return str(spec.get("serviceAccountName", ""))
        case "status.hostIP" | "status.hostIPs":
            # One node with one address: hostIPs is that address alone.
            return host_ip
        case "status.podIP" | "status.podIPs":
            return pod_ip
    return pod_field_value(pod, path)


def _convert_field_label(version: str, label: str) -> str:
    """ConvertDownwardAPIFieldLabel: check the field is one a pod exposes; map the legacy `spec.host`."""
    if version != "v1":
        raise ContainerConfigError(f"unsupported pod version: {version}")
    subscripted = _split_subscript(label)
    if subscripted is not None:
        if subscripted[0] in ("metadata.annotations", "metadata.labels"):
            return label
        raise ContainerConfigError(f"field label does not support subscript: {label}")
    if label == "spec.host":
        return "spec.nodeName"
    if label in _POD_FIELD_LABELS:
        return label
    raise ContainerConfigError(f"field label not supported: {label}")


_POD_FIELD_LABELS = frozenset(
    {
        "metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid",
        "spec.nodeName", "spec.restartPolicy", "spec.serviceAccountName", "spec.schedulerName",
        "status.phase", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs",
    }
)  # fmt: skip


def _split_subscript(field_path: str) -> tuple[str, str] | None:
    """SplitMaybeSubscriptedPath: `metadata.labels['app']` -> ("metadata.labels", "app")."""
    if not field_path.endswith("']"):
        return None
    head, sep, key = field_path.removesuffix("']").partition("['")
    if not sep or not head:
        return None
    return head, key


def _find_container(pod: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """findContainerInPod: regular containers first, then init containers."""
    spec = pod.get("spec") or {}
    for container in [*_dicts(spec.get("containers")), *_dicts(spec.get("initContainers"))]:
        if container.get("name") == name:
            return container
    raise ContainerConfigError(f"container {name} not found")


def _ceil_div(amount: int, divisor: int) -> int:
    """The kubelet's math.Ceil(float64(amount) / float64(divisor)), in exact integers."""
    return -(-amount // divisor)


def _bytes_to_str(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")


def _service_variables(pod: Mapping[str, Any], namespace: str, list_services: ServiceLister) -> list[tuple[str, str]]:
    """getServiceEnvVarMap: the master Service always, the namespace's own with `enableServiceLinks`."""
    links = (pod.get("spec") or {}).get("enableServiceLinks") is not False
    services = [*list_services(MASTER_SERVICE_NAMESPACE)]
    if links and namespace != MASTER_SERVICE_NAMESPACE:
        services += list_services(namespace)
    return service_env_vars(services, namespace, links)


def _namespace(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("namespace") or "default")


def _dicts(value: Any) -> list[Obj]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


class _ObjectCache:
    """The ConfigMaps and Secrets fetched for one container, each fetched once (as the kubelet's maps do)."""

    def __init__(self, namespace: str, get_configmap: Getter, get_secret: Getter) -> None:
        self.namespace = namespace
        self._get = {"configmap": get_configmap, "secret": get_secret}
        self._seen: dict[tuple[str, str], Obj] = {}

    def configmap(self, name: str, *, optional: bool) -> Obj | None:
        """The ConfigMap, None if it is missing and optional; raises `configmap "x" not found` otherwise."""
        return self._fetch("configmap", name, optional)

    def secret(self, name: str, *, optional: bool) -> Obj | None:
        """The Secret, None if it is missing and optional; raises `secret "x" not found` otherwise."""
        return self._fetch("secret", name, optional)

    def _fetch(self, kind: str, name: str, optional: bool) -> Obj | None:
        key = (kind, name)
        if key not in self._seen:
            obj = self._get[kind](name)
            if obj is None:
                if optional:
                    return None
                # The API's NotFound error text: `configmap "x" not found`.
                raise ContainerConfigError(f"{kind} {go_quote(name)} not found")
            self._seen[key] = obj
        return self._seen[key]
