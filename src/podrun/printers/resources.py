"""`kubectl get` for the other core kinds podrun serves: events, configmaps, secrets, namespaces, nodes.

Each `print_*` returns the cells of one server-side Table row as `printEvent`, `printConfigMap`,
`printSecret`, `printNamespace` and `printNode` in pkg/printers/internalversion/printers.go compute them.
The API server always prints the wide form (kubectl hides the `priority: 1` columns unless `-o wide`), so
these do too. Counts are integers, as Go puts `int64` cells in the Table; everything else is a string.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from podrun.printers.pods import POD_COLUMNS, translate_timestamp_since

JSON = dict[str, Any]

_NONE = "<none>"
_UNKNOWN = "<unknown>"
_NODE_ROLE_PREFIX = "node-role.kubernetes.io/"
_NODE_ROLE_LABEL = "kubernetes.io/role"

_NAME_DESCRIPTION = POD_COLUMNS[0]["description"]
_AGE_DESCRIPTION = POD_COLUMNS[4]["description"]
_ADDRESSES_DESCRIPTION = (
    "List of addresses reachable to the node. Queried from cloud provider, if available. More info: "
    "https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, "
    "but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers "
    "should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should "
    "assume that addresses can change during the lifetime of a Node. However, there are some exceptions where "
    "this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the "
    "downward API (status.hostIP)."
)
_FIELD_PATH_DESCRIPTION = (
    "If referring to a piece of an object instead of an entire object, this string should contain a valid "
    "JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object "
    'reference is to a container within a pod, this would take on a value like: "spec.containers{name}" (where '
    '"name" refers to the name of the container that triggered the event) or if no container name is specified '
    '"spec.containers[2]" (container with index 2 in this pod). This syntax is chosen only to have some '
    "well-defined way of referencing a part of an object."
)


def _column(name: str, description: str, *, priority: int = 0, fmt: str = "") -> JSON:
    return {"name": name, "type": "string", "format": fmt, "description": description, "priority": priority}


def _name_column(priority: int = 0) -> JSON:
    return _column("Name", _NAME_DESCRIPTION, priority=priority, fmt="name")


EVENT_COLUMNS: tuple[JSON, ...] = (
    _column("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
    _column("Type", "Type of this event (Normal, Warning), new types could be added in the future"),
    _column(
        "Reason",
        "This should be a short, machine understandable string that gives the reason for the transition into "
        "the object's current status.",
    ),
    _column("Object", "The object that this event is about."),
    _column("Subobject", _FIELD_PATH_DESCRIPTION, priority=1),
    _column(
        "Source", "The component reporting this event. Should be a short machine understandable string.", priority=1
    ),
    _column("Message", "A human-readable description of the status of this operation."),
    _column(
        "First Seen",
        "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
        priority=1,
    ),
    _column("Count", "The number of times this event has occurred.", priority=1),
    _name_column(priority=1),
)

CONFIGMAP_COLUMNS: tuple[JSON, ...] = (
    _name_column(),
    _column(
        "Data",
        "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. "
        "Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not "
        "overlap with the keys in the BinaryData field, this is enforced during validation process.",
    ),
    _column("Age", _AGE_DESCRIPTION),
)

SECRET_COLUMNS: tuple[JSON, ...] = (
    _name_column(),
    _column(
        "Type",
        "Used to facilitate programmatic handling of secret data. More info: "
        "https://kubernetes.io/docs/concepts/configuration/secret/#secret-types",
    ),
    _column(
        "Data",
        "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The "
        "serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly "
        "non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4",
    ),
    _column("Age", _AGE_DESCRIPTION),
)

NAMESPACE_COLUMNS: tuple[JSON, ...] = (
    _name_column(),
    _column("Status", "The status of the namespace"),
    _column("Age", _AGE_DESCRIPTION),
)

NODE_COLUMNS: tuple[JSON, ...] = (
    _name_column(),
    _column("Status", "The status of the node"),
    _column("Roles", "The roles of the node"),
    _column("Age", _AGE_DESCRIPTION),
    _column("Version", "Kubelet Version reported by the node."),
    _column("Internal-IP", _ADDRESSES_DESCRIPTION, priority=1),
    _column("External-IP", _ADDRESSES_DESCRIPTION, priority=1),
    _column(
        "OS-Image", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).", priority=1
    ),
    _column(
        "Kernel-Version", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", priority=1
    ),
    _column(
        "Container-Runtime",
        "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
        priority=1,
    ),
)


def print_event(event: Mapping[str, Any], *, now: datetime) -> list[Any]:
    """LAST SEEN, TYPE, REASON, OBJECT, SUBOBJECT, SOURCE, MESSAGE, FIRST SEEN, COUNT, NAME (`printEvent`)."""
    first = translate_timestamp_since(event.get("firstTimestamp"), now)
    if not event.get("firstTimestamp"):
        first = translate_timestamp_since(event.get("eventTime"), now)
    last = translate_timestamp_since(event.get("lastTimestamp"), now) if event.get("lastTimestamp") else first
    count = int(event.get("count") or 0)
    series = event.get("series")
    if series:
        last = translate_timestamp_since(series.get("lastObservedTime"), now)
        count = int(series.get("count") or 0)
    elif count == 0:
        # Events of the events.k8s.io API leave the count unset for a single occurrence.
        count = 1
    involved = event.get("involvedObject") or {}
    kind = str(involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = event.get("source") or {}
    component = source.get("component") or event.get("reportingComponent") or ""
    instance = source.get("host") or event.get("reportingInstance") or ""
    return [
        last,
        event.get("type") or "",
        event.get("reason") or "",
        target,
        involved.get("fieldPath") or "",
        f"{component}, {instance}" if instance else component,
        str(event.get("message") or "").strip(),
        first,
        count,
        (event.get("metadata") or {}).get("name", ""),
    ]


def print_configmap(configmap: Mapping[str, Any], *, now: datetime) -> list[Any]:
    """NAME, DATA (keys in `data` and `binaryData`), AGE."""
    size = len(configmap.get("data") or {}) + len(configmap.get("binaryData") or {})
    return [_name(configmap), size, _age(configmap, now)]


def print_secret(secret: Mapping[str, Any], *, now: datetime) -> list[Any]:
    """NAME, TYPE, DATA (number of keys), AGE."""
    return [_name(secret), secret.get("type") or "", len(secret.get("data") or {}), _age(secret, now)]


def print_namespace(namespace: Mapping[str, Any], *, now: datetime) -> list[Any]:
    """NAME, STATUS (the phase), AGE."""
    return [_name(namespace), (namespace.get("status") or {}).get("phase") or "", _age(namespace, now)]


def print_node(node: Mapping[str, Any], *, now: datetime) -> list[Any]:
    """NAME, STATUS, ROLES, AGE, VERSION, INTERNAL-IP, EXTERNAL-IP, OS-IMAGE, KERNEL-VERSION, CONTAINER-RUNTIME."""
    status = node.get("status") or {}
    ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
    states = [("Ready" if ready[-1].get("status") == "True" else "NotReady") if ready else "Unknown"]
    if (node.get("spec") or {}).get("unschedulable"):
        states.append("SchedulingDisabled")
    info = status.get("nodeInfo") or {}
    return [
        _name(node),
        ",".join(states),
        ",".join(_node_roles(node)) or _NONE,
        _age(node, now),
        info.get("kubeletVersion") or "",
        _node_address(status, "InternalIP"),
        _node_address(status, "ExternalIP"),
        info.get("osImage") or _UNKNOWN,
        info.get("kernelVersion") or _UNKNOWN,
        info.get("containerRuntimeVersion") or _UNKNOWN,
    ]


def _node_roles(node: Mapping[str, Any]) -> list[str]:
    """`findNodeRoles`: `node-role.kubernetes.io/<role>` label keys and the `kubernetes.io/role` value, sorted."""
    roles: set[str] = set()
    for key, value in ((node.get("metadata") or {}).get("labels") or {}).items():
        if key.startswith(_NODE_ROLE_PREFIX) and key[len(_NODE_ROLE_PREFIX) :]:
            roles.add(key[len(_NODE_ROLE_PREFIX) :])
        elif key == _NODE_ROLE_LABEL and value:
            roles.add(value)
    return sorted(roles)


def _node_address(status: Mapping[str, Any], kind: str) -> str:
    for address in status.get("addresses") or []:
        if address.get("type") == kind:
            return str(address.get("address") or "")
    return _NONE


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _age(obj: Mapping[str, Any], now: datetime) -> str:
    return translate_timestamp_since((obj.get("metadata") or {}).get("creationTimestamp"), now)
