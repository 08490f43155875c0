"""What the API server fills in on create, for Pods, ConfigMaps and Secrets in their v1 JSON form.

Sources: `pkg/apis/core/v1/defaults.go` (and its generated `zz_generated.defaults.go`), the v1
conversions (`serviceAccount`, Secret `stringData`), and the admission plugins that run on every pod
create: ServiceAccount (`serviceAccountName: default`), DefaultTolerationSeconds and Priority.

Every function returns a new dict and leaves its argument alone. Input that the API server could not
even decode (a malformed quantity, a number where a string map is expected, bad base64) raises
`ValueError` with the decoder's message; the caller adds `Pod in version "v1" cannot be handled as a Pod: `.
"""

from __future__ import annotations

import base64
import binascii
import copy
import random
from collections.abc import Callable, Mapping
from typing import Any

from podrun.model.errors import json_kind
from podrun.runtime.reference import InvalidReference, parse

DEFAULT_NAMESPACE = "default"
DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS = 30
DEFAULT_FILE_MODE = 0o644
DEFAULT_TOLERATION_SECONDS = 300
SYSTEM_PRIORITIES = {"system-cluster-critical": 2_000_000_000, "system-node-critical": 2_000_001_000}

# Every VolumeSource member: a volume with none of them becomes an emptyDir.
_VOLUME_SOURCES = (
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs", "iscsi",
    "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "downwardAPI",
    "fc", "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk",
    "projected", "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral", "image",
)  # fmt: skip
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_PROBE_DEFAULTS = {"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
_NOT_READY_TAINT = "node.kubernetes.io/not-ready"
_UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
# SimpleNameGenerator: five characters from an alphabet without vowels or look-alikes.
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_MAX_GENERATED_BASE = 58


def default_pod(pod: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `pod` with everything the API server sets on create: v1 defaults and admission."""
    obj = copy.deepcopy(dict(pod))
    _default_meta(_child_dict(obj, "metadata", "Pod", "v1.ObjectMeta"))
    _default_pod_spec(_child_dict(obj, "spec", "Pod", "v1.PodSpec"))
    return obj


def default_configmap(configmap: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `configmap` with its namespace set; string data and base64 binary data are checked."""
    obj = copy.deepcopy(dict(configmap))
    _default_meta(_child_dict(obj, "metadata", "ConfigMap", "v1.ObjectMeta"))
    _string_map(obj, "data", "ConfigMap.data")
    binary = obj.get("binaryData")
    if isinstance(binary, dict):
        obj["binaryData"] = {key: _reencode(value, "ConfigMap.binaryData") for key, value in binary.items()}
    elif binary is not None:
        raise ValueError(_type_error(binary, "ConfigMap.binaryData", "map[string][]uint8"))
    return obj


def default_secret(secret: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `secret` with type `Opaque` by default and `stringData` merged into base64 `data`."""
    obj = copy.deepcopy(dict(secret))
    _default_meta(_child_dict(obj, "metadata", "Secret", "v1.ObjectMeta"))
    if not obj.get("type"):
        obj["type"] = "Opaque"
    raw = obj.get("data")
    if raw is not None and not isinstance(raw, dict):
        raise ValueError(_type_error(raw, "Secret.data", "map[string][]uint8"))
    data = {key: _reencode(value, "Secret.data") for key, value in (raw or {}).items()}
    _string_map(obj, "stringData", "Secret.stringData")
    string_data = obj.pop("stringData", None)
    # The v1 conversion writes stringData over data, key by key.
    for key, value in (string_data or {}).items():
        data[key] = base64.b64encode(value.encode()).decode()
    if data or raw is not None:
        obj["data"] = dict(sorted(data.items()))
    return obj


def generate_name(base: str, choose: Callable[[str], str] = random.choice) -> str:
    """The name the API server makes from `metadata.generateName`: the base cut to 58 characters, plus 5."""
    return base[:_MAX_GENERATED_BASE] + "".join(choose(_NAME_ALPHABET) for _ in range(5))


def pull_policy_for(image: str) -> str:
    """The default imagePullPolicy: `Always` for a `latest` tag (also implied by no tag and no digest)."""
    try:
        reference = parse(image)
    except InvalidReference:
        # Go ignores the parse error here and so falls to IfNotPresent; the kubelet reports the image.
        return "IfNotPresent"
    return "Always" if reference.tag == "latest" else "IfNotPresent"


def _default_meta(meta: dict[str, Any]) -> None:
    if not meta.get("namespace"):
        meta["namespace"] = DEFAULT_NAMESPACE
    _string_map(meta, "labels", "ObjectMeta.metadata.labels")
    _string_map(meta, "annotations", "ObjectMeta.metadata.annotations")


def _default_pod_spec(spec: dict[str, Any]) -> None:
    for key, value in (
        ("dnsPolicy", "ClusterFirst"),
        ("restartPolicy", "Always"),
        ("schedulerName", "default-scheduler"),
    ):
        if not spec.get(key):
            spec[key] = value
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS
    if spec.get("enableServiceLinks") is None:
        spec["enableServiceLinks"] = True
    _string_map(spec, "nodeSelector", "PodSpec.spec.nodeSelector")
    # The v1 conversion keeps the deprecated serviceAccount in step; admission names the default one.
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = spec["serviceAccount"] = account
    _default_tolerations(spec)
    if spec.get("priority") is None:
        spec["priority"] = SYSTEM_PRIORITIES.get(spec.get("priorityClassName") or "", 0)
    if spec.get("preemptionPolicy") is None:
        spec["preemptionPolicy"] = "PreemptLowerPriority"
    for volume in _dicts(spec.get("volumes")):
        _default_volume(volume)
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for container in _dicts(spec.get(key)):
            _default_container(container, copy_limits=key != "ephemeralContainers")
            if spec.get("hostNetwork") is True and key != "ephemeralContainers":
                for port in _dicts(container.get("ports")):
                    if not port.get("hostPort") and port.get("containerPort") is not None:
                        port["hostPort"] = port["containerPort"]
    if isinstance(spec.get("overhead"), dict):
        spec["overhead"] = _resource_list(spec["overhead"])


def _default_tolerations(spec: dict[str, Any]) -> None:
    """DefaultTolerationSeconds admission: tolerate not-ready and unreachable nodes for 300s."""
    tolerations = spec.get("tolerations")
    if tolerations is None:
        tolerations = spec["tolerations"] = []
    if not isinstance(tolerations, list):
        return
    for taint in (_NOT_READY_TAINT, _UNREACHABLE_TAINT):
        if not any(_tolerates_no_execute(item, taint) for item in _dicts(tolerations)):
            tolerations.append(
                {
                    "key": taint,
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
                }
            )


def _tolerates_no_execute(toleration: dict[str, Any], taint: str) -> bool:
    return toleration.get("key", "") in ("", taint) and toleration.get("effect", "") in ("", "NoExecute")


def _default_volume(volume: dict[str, Any]) -> None:
    if not any(volume.get(source) is not None for source in _VOLUME_SOURCES):
        volume["emptyDir"] = {}
    empty_dir = volume.get("emptyDir")
    if isinstance(empty_dir, dict) and "sizeLimit" in empty_dir:
        if empty_dir["sizeLimit"] is None:
            del empty_dir["sizeLimit"]
        else:
            empty_dir["sizeLimit"] = _canonical_quantity(empty_dir["sizeLimit"])
    host_path = volume.get("hostPath")
    if isinstance(host_path, dict) and host_path.get("type") is None:
        host_path["type"] = ""
    for source in ("secret", "configMap", "downwardAPI", "projected"):
        if isinstance(volume.get(source), dict) and volume[source].get("defaultMode") is None:
            volume[source]["defaultMode"] = DEFAULT_FILE_MODE
    if isinstance(volume.get("downwardAPI"), dict):
        _default_downward_items(volume["downwardAPI"])
    if isinstance(volume.get("projected"), dict):
        for projection in _dicts(volume["projected"].get("sources")):
            if isinstance(projection.get("downwardAPI"), dict):
                _default_downward_items(projection["downwardAPI"])
            token = projection.get("serviceAccountToken")
            if isinstance(token, dict) and token.get("expirationSeconds") is None:
                token["expirationSeconds"] = 3600


def _default_downward_items(source: dict[str, Any]) -> None:
    for item in _dicts(source.get("items")):
        _default_field_selectors(item)


def _default_field_selectors(holder: dict[str, Any]) -> None:
    """ObjectFieldSelector.apiVersion defaults to v1; a ResourceFieldSelector's divisor prints as "0"."""
    field_ref = holder.get("fieldRef")
    if isinstance(field_ref, dict) and not field_ref.get("apiVersion"):
        field_ref["apiVersion"] = "v1"
    resource_ref = holder.get("resourceFieldRef")
    if isinstance(resource_ref, dict):
        resource_ref["divisor"] = _canonical_quantity(resource_ref.get("divisor"))


def _default_container(container: dict[str, Any], *, copy_limits: bool) -> None:
    if not container.get("imagePullPolicy"):
        image = container.get("image")
        container["imagePullPolicy"] = pull_policy_for(image if isinstance(image, str) else "")
    if not container.get("terminationMessagePath"):
        container["terminationMessagePath"] = "/dev/termination-log"
    if not container.get("terminationMessagePolicy"):
        container["terminationMessagePolicy"] = "File"
    for port in _dicts(container.get("ports")):
        if not port.get("protocol"):
            port["protocol"] = "TCP"
    for env in _dicts(container.get("env")):
        if isinstance(env.get("valueFrom"), dict):
            _default_field_selectors(env["valueFrom"])
    _default_resources(container, copy_limits=copy_limits)
    for probe_key in _PROBES:
        probe = container.get(probe_key)
        if isinstance(probe, dict):
            _default_probe(probe)
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, dict):
        for hook in ("postStart", "preStop"):
            if isinstance(lifecycle.get(hook), dict):
                _default_http_get(lifecycle[hook].get("httpGet"))


def _default_resources(container: dict[str, Any], *, copy_limits: bool) -> None:
    resources = container.get("resources")
    if resources is None:
        resources = container["resources"] = {}
    if not isinstance(resources, dict):
        return
    limits = resources.get("limits")
    if isinstance(limits, dict):
        resources["limits"] = limits = _resource_list(limits)
    requests = resources.get("requests")
    if isinstance(requests, dict):
        resources["requests"] = requests = _resource_list(requests)
    # SetDefaults_Pod: a limit without a request is also the request (not for ephemeral containers).
    if copy_limits and isinstance(limits, dict):
        merged = dict(requests) if isinstance(requests, dict) else {}
        for name, value in limits.items():
            merged.setdefault(name, value)
        resources["requests"] = merged


def _resource_list(resources: dict[str, Any]) -> dict[str, str]:
    """SetDefaults_ResourceList: quantities rounded up to milli units, written canonically."""
    from podrun.model.quantity import from_json

    return {name: str(from_json(value).round_up(-3)) for name, value in resources.items()}


def _canonical_quantity(value: Any) -> str:
    # The quantities (and decimal, fractions) load with the first object that has one: an idle server defaults
    # only its Node and Namespaces, which have none.
    from podrun.model.quantity import from_json

    return str(from_json(value))


def _default_probe(probe: dict[str, Any]) -> None:
    for key, value in _PROBE_DEFAULTS.items():
        if not probe.get(key):
            probe[key] = value
    _default_http_get(probe.get("httpGet"))
    grpc = probe.get("grpc")
    if isinstance(grpc, dict) and grpc.get("service") is None:
        grpc["service"] = ""


def _default_http_get(action: Any) -> None:
    if isinstance(action, dict):
        if not action.get("path"):
            action["path"] = "/"
        if not action.get("scheme"):
            action["scheme"] = "HTTP"


def _child_dict(obj: dict[str, Any], key: str, kind: str, go_type: str) -> dict[str, Any]:
    """An object's metadata or spec, created when absent; any other JSON type cannot decode."""
    value = obj.get(key)
    if value is None:
        value = obj[key] = {}
    if not isinstance(value, dict):
        raise ValueError(_type_error(value, f"{kind}.{key}", go_type))
    return value


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _string_map(obj: dict[str, Any], key: str, go_path: str) -> None:
    """A map[string]string field: null values decode to "", anything else but strings fails, as in Go."""
    value = obj.get(key)
    if value is None:
        return
    if not isinstance(value, dict):
        raise ValueError(_type_error(value, go_path, "map[string]string"))
    for item in value.values():
        if item is not None and not isinstance(item, str):
            raise ValueError(_type_error(item, go_path, "string"))
    obj[key] = {name: "" if item is None else item for name, item in value.items()}


def _reencode(value: Any, go_path: str) -> str:
    """A []byte field: base64 text (newlines ignored, as Go does), written back in standard form."""
    if not isinstance(value, str):
        raise ValueError(_type_error(value, go_path, "[]uint8"))
    text = value.replace("\r", "").replace("\n", "")
    try:
        return base64.b64encode(base64.b64decode(text, validate=True)).decode()
    except (binascii.Error, ValueError):
        raise ValueError(f"illegal base64 data at input byte {_bad_base64_offset(text)}") from None


def _bad_base64_offset(text: str) -> int:
    """Where Go's decoder gives up: the first unusable byte, or the start of a short final group."""
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    for index, char in enumerate(text):
        if char not in alphabet and not (char == "=" and index >= len(text) - 2):
            return index
    return len(text) - len(text) % 4


def _type_error(value: Any, go_path: str, go_type: str) -> str:
    """encoding/json's UnmarshalTypeError text, e.g. for `app: 1` in labels."""
    return f"json: cannot unmarshal {json_kind(value)} into Go struct field {go_path} of type {go_type}"


