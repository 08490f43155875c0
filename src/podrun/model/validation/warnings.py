"""Pod warnings: pkg/api/pod/warnings.go and the pod strategy's WarningsOnCreate."""

from __future__ import annotations

from podrun.json_types import JSON
from podrun.model.errors import go_quote
from podrun.model.quantity import from_json
from podrun.model.validation.formats import is_dns1123_label
from podrun.model.validation.readers import as_dict, as_dicts, as_int, as_str

_DEPRECATED_NODE_LABELS = {
    label: f'deprecated since {since}; use "{replacement}" instead'
    for label, since, replacement in (
        ("beta.kubernetes.io/arch", "v1.14", "kubernetes.io/arch"),
        ("beta.kubernetes.io/os", "v1.14", "kubernetes.io/os"),
        ("failure-domain.beta.kubernetes.io/region", "v1.17", "topology.kubernetes.io/region"),
        ("failure-domain.beta.kubernetes.io/zone", "v1.17", "topology.kubernetes.io/zone"),
        ("beta.kubernetes.io/instance-type", "v1.17", "node.kubernetes.io/instance-type"),
    )
}


_USE_SYSCTLS = 'non-functional in v1.11+; use the "sysctls" field instead'


_DEPRECATED_ANNOTATIONS = {
    "scheduler.alpha.kubernetes.io/critical-pod": (
        'non-functional in v1.16+; use the "priorityClassName" field instead'
    ),
    "security.alpha.kubernetes.io/sysctls": _USE_SYSCTLS,
    "security.alpha.kubernetes.io/unsafe-sysctls": _USE_SYSCTLS,
}


_NO_POD_MATCHES = "a null labelSelector results in matching no pod"


_DEPRECATED_VOLUMES = (
    ("photonPersistentDisk", "photonPersistentDisk", "deprecated in v1.11, non-functional in v1.16+"),
    ("gitRepo", "gitRepo", "deprecated in v1.11"),
    ("scaleIO", "scaleIO", "deprecated in v1.16, non-functional in v1.22+"),
    ("flocker", "flocker", "deprecated in v1.22, non-functional in v1.25+"),
    ("storageos", "storageOS", "deprecated in v1.22, non-functional in v1.25+"),
    ("quobyte", "quobyte", "deprecated in v1.22, non-functional in v1.25+"),
    ("glusterfs", "glusterfs", "deprecated in v1.25, non-functional in v1.26+"),
    ("cephfs", "cephfs", "deprecated in v1.28, non-functional in v1.31+"),
    ("rbd", "rbd", "deprecated in v1.28, non-functional in v1.31+"),
)


_SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"


_SECCOMP_CONTAINER_PREFIX = "container.seccomp.security.alpha.kubernetes.io/"


_NOT_SECCOMP_FIELD = 'non-functional in v1.27+; use the "seccompProfile" field instead'


def pod_warnings(pod: JSON) -> list[str]:
    """The warnings the API server sends with a created pod (the `Warning:` lines kubectl prints)."""
    meta, spec = as_dict(pod.get("metadata")), as_dict(pod.get("spec"))
    annotations = as_dict(meta.get("annotations"))
    warnings: list[str] = []
    name_problems = is_dns1123_label(as_str(meta.get("name")))
    if name_problems:
        warnings.append(
            "metadata.name: this is used in the Pod's hostname, which can result in surprising behavior; "
            f"a DNS label is recommended: [{' '.join(name_problems)}]"
        )
    for key in as_dict(spec.get("nodeSelector")):
        if key in _DEPRECATED_NODE_LABELS:
            warnings.append(f"spec.nodeSelector[{key}]: {_DEPRECATED_NODE_LABELS[key]}")
    for index, constraint in enumerate(as_dicts(spec.get("topologySpreadConstraints"))):
        path = f"spec.topologySpreadConstraints[{index}]"
        topology_key = as_str(constraint.get("topologyKey"))
        if topology_key in _DEPRECATED_NODE_LABELS:
            warnings.append(f"{path}.topologyKey: {topology_key} is {_DEPRECATED_NODE_LABELS[topology_key]}")
        if constraint.get("labelSelector") is None:
            warnings.append(f"{path}.labelSelector: {_NO_POD_MATCHES}")
    for key, message in _DEPRECATED_ANNOTATIONS.items():
        if key in annotations:
            warnings.append(f"metadata.annotations[{key}]: {message}")
    for index, volume in enumerate(as_dicts(spec.get("volumes"))):
        for key, path_name, message in _DEPRECATED_VOLUMES:
            if volume.get(key) is not None:
                warnings.append(f"spec.volumes[{index}].{path_name}: {message}")
    warnings += _duplicate_warnings(as_dicts(spec.get("hostAliases")), "ip", "spec.hostAliases", "ip")
    pull_secrets = as_dicts(spec.get("imagePullSecrets"))
    warnings += _duplicate_warnings(pull_secrets, "name", "spec.imagePullSecrets", "name")
    for index, secret in enumerate(pull_secrets):
        if not as_str(secret.get("name")):
            warnings.append(f'spec.imagePullSecrets[{index}].name: invalid empty name ""')
    overhead = as_dict(spec.get("overhead"))
    for resource in ("memory", "ephemeral-storage"):
        warnings += _fractional_bytes(overhead, resource, "spec.overhead")
    if _SECCOMP_POD_ANNOTATION in annotations and as_dict(spec.get("securityContext")).get("seccompProfile") is None:
        warnings.append(f"metadata.annotations[{_SECCOMP_POD_ANNOTATION}]: {_NOT_SECCOMP_FIELD}")
    containers = _all_containers(spec)
    for path, container in containers:
        warnings += _container_warnings(container, path, annotations)
    warnings += _port_warnings(containers)
    grace = as_int(spec.get("terminationGracePeriodSeconds"))
    if grace is not None and grace < 0:
        warnings.append(
            "spec.terminationGracePeriodSeconds: must be >= 0; negative values are invalid and will be treated as 1"
        )
    affinity = as_dict(spec.get("affinity"))
    for kind in ("podAffinity", "podAntiAffinity"):
        terms = as_dict(affinity.get(kind))
        required = f"spec.affinity.{kind}.requiredDuringSchedulingIgnoredDuringExecution"
        for index, term in enumerate(as_dicts(terms.get("requiredDuringSchedulingIgnoredDuringExecution"))):
            if term.get("labelSelector") is None:
                warnings.append(f"{required}[{index}].labelSelector: {_NO_POD_MATCHES}")
        preferred = f"spec.affinity.{kind}.preferredDuringSchedulingIgnoredDuringExecution"
        for index, term in enumerate(as_dicts(terms.get("preferredDuringSchedulingIgnoredDuringExecution"))):
            if as_dict(term.get("podAffinityTerm")).get("labelSelector") is None:
                warnings.append(f"{preferred}[{index}].podAffinityTerm.labelSelector: {_NO_POD_MATCHES}")
    return warnings


def _all_containers(spec: JSON) -> list[tuple[str, JSON]]:
    """VisitContainersWithPath order: init containers, then containers, then ephemeral containers."""
    return [
        (f"spec.{key}[{index}]", container)
        for key in ("initContainers", "containers", "ephemeralContainers")
        for index, container in enumerate(as_dicts(spec.get(key)))
    ]


def _duplicate_warnings(items: list[JSON], key: str, path: str, child: str) -> list[str]:
    warnings: list[str] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        value = as_str(item.get(key))
        if value in seen:
            warnings.append(f"{path}[{index}].{child}: duplicate {key} {go_quote(value)}")
        seen.add(value)
    return warnings


def _fractional_bytes(resources: JSON, resource: str, path: str) -> list[str]:
    if resource not in resources:
        return []
    try:
        quantity = from_json(resources[resource])
    except ValueError:
        return []
    if quantity.milli_value() % 1000 == 0:
        return []
    return [f"{path}[{resource}]: fractional byte value {go_quote(str(quantity))} is invalid, must be an integer"]


def _container_warnings(container: JSON, path: str, annotations: JSON) -> list[str]:
    warnings: list[str] = []
    seccomp_key = _SECCOMP_CONTAINER_PREFIX + as_str(container.get("name"))
    if seccomp_key in annotations and as_dict(container.get("securityContext")).get("seccompProfile") is None:
        warnings.append(f"metadata.annotations[{seccomp_key}]: {_NOT_SECCOMP_FIELD}")
    resources = as_dict(container.get("resources"))
    for resource in ("memory", "ephemeral-storage"):
        for kind in ("limits", "requests"):
            warnings += _fractional_bytes(as_dict(resources.get(kind)), resource, f"{path}.resources.{kind}")
    seen: set[str] = set()
    for index, variable in enumerate(as_dicts(container.get("env"))):
        name = as_str(variable.get("name"))
        if name not in seen:
            seen.add(name)
            continue
        value, reference = as_str(variable.get("value")), f"$({name})"
        # Redefining X as "$(X)..." builds on the old value; anything else silently replaces it.
        if variable.get("valueFrom") is not None or value == reference or reference not in value:
            warnings.append(
                f"{path}.env[{index}]: hides previous definition of {go_quote(name)}, "
                "which may be dropped when using apply"
            )
    return warnings


def _port_warnings(containers: list[tuple[str, JSON]]) -> list[str]:
    warnings: list[str] = []
    seen: dict[str, list[tuple[str, JSON]]] = {}
    for path, container in containers:
        for index, port in enumerate(as_dicts(container.get("ports"))):
            port_path = f"{path}.ports[{index}]"
            host_ip = as_str(port.get("hostIP"))
            host_port = as_int(port.get("hostPort")) or 0
            if host_ip and not host_port:
                warnings.append(f"{port_path}: hostIP set without hostPort: {_go_port(port)}")
            key = f"{as_int(port.get('containerPort')) or 0}/{as_str(port.get('protocol'))}"
            for other_path, other in seen.get(key, []):
                other_ip, other_port = as_str(other.get("hostIP")), as_int(other.get("hostPort")) or 0
                if host_ip == other_ip and host_port == other_port:
                    warnings.append(f"{port_path}: duplicate port definition with {other_path}")
                elif not host_port or not other_port:
                    warnings.append(f"{port_path}: overlapping port definition with {other_path}")
                elif host_port == other_port and (not host_ip) != (not other_ip):
                    warnings.append(f"{port_path}: dangerously ambiguous port definition with {other_path}")
            seen.setdefault(key, []).append((port_path, port))
    return warnings


def _go_port(port: JSON) -> str:
    """A ContainerPort as Go's %+v prints it."""
    return (
        f"{{Name:{as_str(port.get('name'))} HostPort:{as_int(port.get('hostPort')) or 0} "
        f"ContainerPort:{as_int(port.get('containerPort')) or 0} Protocol:{as_str(port.get('protocol'))} "
        f"HostIP:{as_str(port.get('hostIP'))}}}"
    )
