"""Pod, ConfigMap and Secret validation, with the Kubernetes API server's exact field paths and wording.

A port of the parts of `pkg/apis/core/validation/validation.go` (ValidatePodCreate, ValidatePodUpdate,
ValidateConfigMap, ValidateSecret and what they call) and `pkg/api/pod/warnings.go` that a single-node
pod runtime meets, at the v1.33 feature defaults. Objects are v1 JSON dicts, already defaulted, as they are
when the API server validates them. Go walks maps in random order; here map keys are visited sorted.
Fields are validated only where Kubernetes validates them: for example a relative `mountPath` or an unknown
`emptyDir.medium` pass here, as they pass the real API server.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from podrun.model.errors import FieldError, go_quote
from podrun.model.quantity import Quantity, from_json, json_number_text

Obj = dict[str, Any]
Errors = list[FieldError]

MAX_SECRET_SIZE = 1024 * 1024
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024
MAX_INT32 = 2**31 - 1
UPDATABLE_POD_SPEC_FIELDS = (
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
)

# --- name and format checks (k8s.io/apimachinery/pkg/util/validation) -----------------------------------

_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN_FMT = _LABEL_FMT + "(\\." + _LABEL_FMT + ")*"
_LABEL_UNDERSCORE_FMT = "_?[a-z0-9]([-_a-z0-9]*[a-z0-9])?"
_SUBDOMAIN_UNDERSCORE_FMT = _LABEL_UNDERSCORE_FMT + "(\\." + _LABEL_UNDERSCORE_FMT + ")*"
_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = "(" + _QUALIFIED_NAME_FMT + ")?"
_CONFIG_MAP_KEY_FMT = "[-._a-zA-Z0-9]+"
_HTTP_HEADER_NAME_FMT = "[-A-Za-z0-9]+"
_DNS_LABEL = re.compile(_LABEL_FMT)
_DNS_SUBDOMAIN = re.compile(_SUBDOMAIN_FMT)
_DNS_SUBDOMAIN_UNDERSCORE = re.compile(_SUBDOMAIN_UNDERSCORE_FMT)
_QUALIFIED_NAME = re.compile(_QUALIFIED_NAME_FMT)
_LABEL_VALUE = re.compile(_LABEL_VALUE_FMT)
_CONFIG_MAP_KEY = re.compile(_CONFIG_MAP_KEY_FMT)
_HTTP_HEADER_NAME = re.compile(_HTTP_HEADER_NAME_FMT)
_PORT_NAME_CHARSET = re.compile("[-a-z0-9]+")
_SYSCTL_SEGMENT = "[a-z0-9]([-_a-z0-9]*[a-z0-9])?"
_LABEL_ERROR = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_SUBDOMAIN_ERROR = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)
_SUBDOMAIN_UNDERSCORE_ERROR = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '_', '-' or '.', "
    "and must start and end with an alphanumeric character"
)
_QUALIFIED_NAME_ERROR = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
)
_LABEL_VALUE_ERROR = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_CONFIG_MAP_KEY_ERROR = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
_NEGATIVE = "must be greater than or equal to 0"
_FILE_MODE_ERROR = "must be a number between 0 and 0777 (octal), both inclusive"
_INVALID_IP = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"


def regex_error(message: str, fmt: str, *examples: str) -> str:
    """Kubernetes' RegexError: the rule, examples, and the regex itself."""
    if not examples:
        return f"{message} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{example}', " for example in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{fmt}')"


def max_len_error(length: int) -> str:
    """Kubernetes' MaxLenError."""
    return f"must be no more than {length} characters"


def inclusive_range_error(low: int, high: int) -> str:
    """Kubernetes' InclusiveRangeError."""
    return f"must be between {low} and {high}, inclusive"


def is_dns1123_label(value: str) -> list[str]:
    """Problems with `value` as an RFC 1123 label (container, port and volume names)."""
    errors = []
    if len(value.encode()) > 63:
        errors.append(max_len_error(63))
    if not _DNS_LABEL.fullmatch(value):
        if _DNS_SUBDOMAIN.fullmatch(value):
            errors.append("must not contain dots")
        else:
            errors.append(regex_error(_LABEL_ERROR, _LABEL_FMT, "my-name", "123-abc"))
    return errors


def is_dns1123_subdomain(value: str) -> list[str]:
    """Problems with `value` as an RFC 1123 subdomain (object names)."""
    errors = []
    if len(value.encode()) > 253:
        errors.append(max_len_error(253))
    if not _DNS_SUBDOMAIN.fullmatch(value):
        errors.append(regex_error(_SUBDOMAIN_ERROR, _SUBDOMAIN_FMT, "example.com"))
    return errors


def is_qualified_name(value: str) -> list[str]:
    """Problems with `value` as a qualified name: a label key, `[prefix/]name`."""
    errors: list[str] = []
    parts = value.split("/")
    if len(parts) > 2:
        return [
            "a qualified name "
            + regex_error(_QUALIFIED_NAME_ERROR, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            errors.extend("prefix part " + message for message in is_dns1123_subdomain(prefix))
    if not name:
        errors.append("name part must be non-empty")
    elif len(name.encode()) > 63:
        errors.append("name part " + max_len_error(63))
    if not _QUALIFIED_NAME.fullmatch(name):
        errors.append(
            "name part " + regex_error(_QUALIFIED_NAME_ERROR, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errors


def is_label_value(value: str) -> list[str]:
    """Problems with `value` as a label value."""
    errors = []
    if len(value.encode()) > 63:
        errors.append(max_len_error(63))
    if not _LABEL_VALUE.fullmatch(value):
        errors.append(regex_error(_LABEL_VALUE_ERROR, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errors


def is_port_name(value: str) -> list[str]:
    """Problems with `value` as an IANA_SVC_NAME port name."""
    errors = []
    if len(value.encode()) > 15:
        errors.append(max_len_error(15))
    if not _PORT_NAME_CHARSET.fullmatch(value):
        errors.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", value):
        errors.append("must contain at least one letter (a-z)")
    if "--" in value:
        errors.append("must not contain consecutive hyphens")
    if value and (value[0] == "-" or value[-1] == "-"):
        errors.append("must not begin or end with a hyphen")
    return errors


def is_port_number(value: int) -> list[str]:
    """Problems with `value` as a port number."""
    return [] if 1 <= value <= 65535 else [inclusive_range_error(1, 65535)]


def is_env_var_name(value: str) -> list[str]:
    """The relaxed rule (RelaxedEnvironmentVariableValidation): printable ASCII other than '='."""
    if not value:
        return ["environment variable name must be non-empty"]
    if any(not " " <= char <= "~" or char == "=" for char in value):
        return ["a valid environment variable name must consist only of printable ASCII characters other than '='"]
    return []


def is_config_map_key(value: str) -> list[str]:
    """Problems with `value` as a ConfigMap or Secret key."""
    errors = []
    if len(value.encode()) > 253:
        errors.append(max_len_error(253))
    if not _CONFIG_MAP_KEY.fullmatch(value):
        errors.append(regex_error(_CONFIG_MAP_KEY_ERROR, _CONFIG_MAP_KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    if value == ".":
        errors.append("must not be '.'")
    elif value == "..":
        errors.append("must not be '..'")
    elif value.startswith(".."):
        errors.append("must not start with '..'")
    return errors


def name_is_dns_subdomain(name: str, prefix: bool = False) -> list[str]:
    """NameIsDNSSubdomain; a generateName prefix may end in '-'."""
    return is_dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool = False) -> list[str]:
    """NameIsDNSLabel (namespaces); a generateName prefix may end in '-'."""
    return is_dns1123_label(_mask_trailing_dash(name) if prefix else name)


def _mask_trailing_dash(name: str) -> str:
    return name[:-1] + "a" if len(name) > 1 and name.endswith("-") else name


def _is_ip(value: str) -> bool:
    """netutils.ParseIPSloppy: IPv4 may have leading zeros."""
    octets = value.split(".")
    if len(octets) == 4 and all(octet.isdigit() and octet.isascii() and int(octet) <= 255 for octet in octets):
        return True
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return "%" not in value


# --- tolerant readers: a wrong JSON type reads as absent -------------------------------------------------


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dicts(value: Any) -> list[Obj]:
    return [item if isinstance(item, dict) else {} for item in _list(value)]


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _quantity(value: Any, path: str, errors: Errors) -> Quantity | None:
    try:
        return from_json(value)
    except ValueError as exc:
        # The API server fails to decode such an object before validating it; report it all the same.
        errors.append(FieldError.invalid(path, json_number_text(value), str(exc)))
        return None


def _names(messages: Iterable[str], path: str, value: str) -> Errors:
    return [FieldError.invalid(path, value, message) for message in messages]


# --- metadata ---------------------------------------------------------------------------------------------

_STANDARD_FINALIZERS = frozenset({"kubernetes", "orphan", "foregroundDeletion"})


def _validate_object_meta(meta: Obj, name_fn: Callable[[str, bool], list[str]]) -> Errors:
    """ValidateObjectMeta for a namespaced object, plus the core finalizer-name check."""
    errors: Errors = []
    generate_name = _str(meta.get("generateName"))
    if generate_name:
        errors += _names(name_fn(generate_name, True), "metadata.generateName", generate_name)
    name = _str(meta.get("name"))
    if not name:
        errors.append(FieldError.required("metadata.name", "name or generateName is required"))
    else:
        errors += _names(name_fn(name, False), "metadata.name", name)
    namespace = _str(meta.get("namespace"))
    if not namespace:
        errors.append(FieldError.required("metadata.namespace"))
    else:
        errors += _names(name_is_dns_label(namespace), "metadata.namespace", namespace)
    generation = _int(meta.get("generation"))
    if generation is not None and generation < 0:
        errors.append(FieldError.invalid("metadata.generation", generation, _NEGATIVE))
    errors += validate_labels(_dict(meta.get("labels")), "metadata.labels")
    errors += validate_annotations(_dict(meta.get("annotations")), "metadata.annotations")
    finalizers = [_str(item) for item in _list(meta.get("finalizers"))]
    for finalizer in finalizers:
        errors += _names(is_qualified_name(finalizer), "metadata.finalizers", finalizer)
    if "orphan" in finalizers and "foregroundDeletion" in finalizers:
        errors.append(
            FieldError.invalid(
                "metadata.finalizers", finalizers, "finalizer orphan and foregroundDeletion cannot be both set"
            )
        )
    for index, finalizer in enumerate(finalizers):
        if "/" not in finalizer and finalizer not in _STANDARD_FINALIZERS:
            errors.append(
                FieldError.invalid(
                    f"metadata.finalizers[{index}]",
                    finalizer,
                    "name is neither a standard finalizer name nor is it fully qualified",
                )
            )
    return errors


def validate_labels(labels: Obj, path: str) -> Errors:
    """Label keys must be qualified names and values valid label values."""
    errors: Errors = []
    for key in sorted(labels):
        value = _str(labels[key])
        errors += _names(is_qualified_name(key), path, key)
        errors += _names(is_label_value(value), path, value)
    return errors


def validate_annotations(annotations: Obj, path: str) -> Errors:
    """Annotation keys are qualified names (any case); all of them together stay under 256 KiB."""
    errors: Errors = []
    for key in sorted(annotations):
        errors += _names(is_qualified_name(key.lower()), path, key)
    size = sum(len(key.encode()) + len(_str(value).encode()) for key, value in annotations.items())
    if size > TOTAL_ANNOTATION_SIZE_LIMIT:
        errors.append(FieldError.too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return errors


def _validate_pod_annotations(meta: Obj, spec: Obj) -> Errors:
    annotations = _dict(meta.get("annotations"))
    errors: Errors = []
    mirror = "kubernetes.io/config.mirror"
    if mirror in annotations and not _str(spec.get("nodeName")):
        errors.append(
            FieldError.invalid(
                f"metadata.annotations[{mirror}]",
                _str(annotations[mirror]),
                "must set spec.nodeName if mirror pod annotation is set",
            )
        )
    cost_key = "controller.kubernetes.io/pod-deletion-cost"
    if cost_key in annotations and not _is_int32_text(_str(annotations[cost_key])):
        errors.append(
            FieldError.invalid(
                f"metadata.annotations[{cost_key}]", _str(annotations[cost_key]), "must be a 32bit integer"
            )
        )
    return errors


def _is_int32_text(text: str) -> bool:
    # GetDeletionCostFromPodAnnotations looks at the first character only: no '+', no leading zero.
    if not text or not (text[0] == "-" or text == "0" or "1" <= text[0] <= "9"):
        return False
    return bool(re.fullmatch("-?[0-9]+", text)) and -(2**31) <= int(text) <= MAX_INT32


# --- volumes ----------------------------------------------------------------------------------------------

# validateVolumeSource's order; the first source found counts, every later one is "more than 1".
_VOLUME_SOURCE_ORDER = (
    "emptyDir", "hostPath", "gitRepo", "gcePersistentDisk", "awsElasticBlockStore", "secret", "nfs", "iscsi",
    "glusterfs", "flocker", "persistentVolumeClaim", "rbd", "cinder", "cephfs", "quobyte", "downwardAPI",
    "fc", "flexVolume", "configMap", "azureFile", "vsphereVolume", "photonPersistentDisk", "portworxVolume",
    "azureDisk", "storageos", "projected", "scaleIO", "csi", "ephemeral", "image",
)  # fmt: skip
# Kubernetes spells these two differently in its "more than 1 volume type" paths.
_VOLUME_FORBIDDEN_PATH = {"cephfs": "cephFS", "downwardAPI": "downwarAPI"}
_HOST_PATH_TYPES = (
    "", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket",
)  # fmt: skip
_VOLUME_FIELD_PATHS = (
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
)
_ENV_FIELD_PATHS = (
    "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName",
    "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs",
)  # fmt: skip
_CONVERTIBLE_FIELD_PATHS = frozenset(
    {
        "metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid",
        "spec.nodeName", "spec.restartPolicy", "spec.serviceAccountName", "spec.schedulerName",
        "status.phase", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs",
    }
)  # fmt: skip
_RESOURCE_FIELD_PATHS = (
    "limits.cpu", "limits.ephemeral-storage", "limits.memory", "requests.cpu", "requests.ephemeral-storage",
    "requests.memory",
)  # fmt: skip
_BYTE_DIVISORS = frozenset({"1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei"})
_BYTE_DIVISOR_LIST = "1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei"


def _validate_volumes(volumes: list[Obj], path: str = "spec.volumes") -> tuple[dict[str, Obj], Errors]:
    """ValidateVolumes: the valid volumes by name (the only ones mounts may use), and the errors."""
    errors: Errors = []
    valid: dict[str, Obj] = {}
    for index, volume in enumerate(volumes):
        volume_path = f"{path}[{index}]"
        name = _str(volume.get("name"))
        volume_errors = _validate_volume_source(volume, volume_path)
        if not name:
            volume_errors.append(FieldError.required(f"{volume_path}.name"))
        else:
            volume_errors += _names(is_dns1123_label(name), f"{volume_path}.name", name)
        if name in valid:
            volume_errors.append(FieldError.duplicate(f"{volume_path}.name", name))
        if volume_errors:
            errors += volume_errors
        else:
            valid[name] = volume
    return valid, errors


def _validate_volume_source(volume: Obj, path: str) -> Errors:
    errors: Errors = []
    count = 0
    for key in _VOLUME_SOURCE_ORDER:
        source = volume.get(key)
        if source is None:
            continue
        if count:
            name = _VOLUME_FORBIDDEN_PATH.get(key, key)
            errors.append(FieldError.forbidden(f"{path}.{name}", "may not specify more than 1 volume type"))
            continue
        count += 1
        validator = _VOLUME_VALIDATORS.get(key)
        if validator is not None:
            errors += validator(_dict(source), f"{path}.{key}")
    if not count:
        errors.append(FieldError.required(path, "must specify a volume type"))
    return errors


def _validate_empty_dir(source: Obj, path: str) -> Errors:
    errors: Errors = []
    if source.get("sizeLimit") is not None:
        limit = _quantity(source["sizeLimit"], f"{path}.sizeLimit", errors)
        if limit is not None and limit.value < 0:
            errors.append(
                FieldError.forbidden(f"{path}.sizeLimit", "SizeLimit field must be a valid resource quantity")
            )
    return errors


def _validate_host_path(source: Obj, path: str) -> Errors:
    host_path = _str(source.get("path"))
    if not host_path:
        return [FieldError.required(f"{path}.path")]
    errors = _no_backsteps(host_path, f"{path}.path")
    kind = source.get("type")
    if kind is not None and kind not in _HOST_PATH_TYPES:
        errors.append(FieldError.not_supported(f"{path}.type", kind, _HOST_PATH_TYPES))
    return errors


def _validate_secret_volume(source: Obj, path: str) -> Errors:
    errors: Errors = []
    if not _str(source.get("secretName")):
        errors.append(FieldError.required(f"{path}.secretName"))
    errors += _file_mode(source.get("defaultMode"), f"{path}.defaultMode")
    for index, item in enumerate(_dicts(source.get("items"))):
        errors += _validate_key_to_path(item, f"{path}.items[{index}]")
    return errors


def _validate_config_map_volume(source: Obj, path: str) -> Errors:
    errors: Errors = []
    if not _str(source.get("name")):
        errors.append(FieldError.required(f"{path}.name"))
    errors += _file_mode(source.get("defaultMode"), f"{path}.defaultMode")
    for index, item in enumerate(_dicts(source.get("items"))):
        errors += _validate_key_to_path(item, f"{path}.items[{index}]")
    return errors


def _validate_downward_api_volume(source: Obj, path: str) -> Errors:
    errors = _file_mode(source.get("defaultMode"), f"{path}.defaultMode")
    # Kubernetes reports item errors against the source itself, not items[i].
    for item in _dicts(source.get("items")):
        errors += _validate_downward_api_file(item, path)
    return errors


def _validate_downward_api_file(item: Obj, path: str) -> Errors:
    errors: Errors = []
    file_path = _str(item.get("path"))
    if not file_path:
        errors.append(FieldError.required(f"{path}.path"))
    errors += _local_non_reserved_path(file_path, f"{path}.path")
    if item.get("fieldRef") is not None:
        errors += _validate_object_field_selector(_dict(item["fieldRef"]), _VOLUME_FIELD_PATHS, f"{path}.fieldRef")
        if item.get("resourceFieldRef") is not None:
            errors.append(
                FieldError.invalid(
                    path, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"
                )
            )
    elif item.get("resourceFieldRef") is not None:
        errors += _validate_resource_field_selector(_dict(item["resourceFieldRef"]), f"{path}.resourceFieldRef", True)
    else:
        errors.append(FieldError.required(path, "one of fieldRef and resourceFieldRef is required"))
    errors += _file_mode(item.get("mode"), f"{path}.mode")
    return errors


def _validate_projected_volume(source: Obj, path: str) -> Errors:
    errors = _file_mode(source.get("defaultMode"), f"{path}.defaultMode")
    seen: set[str] = set()

    def claim(item_path: str, bad_value: str) -> None:
        """Each file path may be projected once."""
        if item_path in seen:
            errors.append(FieldError.invalid(path, bad_value, "conflicting duplicate paths"))
        seen.add(item_path)

    for index, projection in enumerate(_dicts(source.get("sources"))):
        source_path = f"{path}.sources[{index}]"
        count = 0
        for kind in ("secret", "configMap"):
            if projection.get(kind) is None:
                continue
            count += 1
            reference = _dict(projection[kind])
            if not _str(reference.get("name")):
                errors.append(FieldError.required(f"{source_path}.{kind}.name"))
            for item_index, item in enumerate(_dicts(reference.get("items"))):
                errors += _validate_key_to_path(item, f"{source_path}.{kind}.items[{item_index}]")
                if _str(item.get("path")):
                    claim(_str(item.get("path")), _str(reference.get("name")))
        if projection.get("downwardAPI") is not None:
            count += 1
            for item in _dicts(_dict(projection["downwardAPI"]).get("items")):
                errors += _validate_downward_api_file(item, f"{source_path}.downwardAPI")
                if _str(item.get("path")):
                    claim(_str(item.get("path")), _str(item.get("path")))
        if projection.get("serviceAccountToken") is not None:
            count += 1
            errors += _validate_token_projection(_dict(projection["serviceAccountToken"]), source_path, path)
        if projection.get("clusterTrustBundle") is not None:
            count += 1
        if count > 1:
            errors.append(FieldError.forbidden(source_path, "may not specify more than 1 volume type per source"))
    return errors


def _validate_token_projection(token: Obj, source_path: str, path: str) -> Errors:
    errors: Errors = []
    expiration = _int(token.get("expirationSeconds")) or 0
    if expiration < 600:
        errors.append(
            FieldError.invalid(
                f"{source_path}.serviceAccountToken.expirationSeconds",
                expiration,
                "may not specify a duration less than 10 minutes",
            )
        )
    if expiration > 1 << 32:
        errors.append(
            FieldError.invalid(
                f"{source_path}.serviceAccountToken.expirationSeconds",
                expiration,
                "may not specify a duration larger than 2^32 seconds",
            )
        )
    token_path = _str(token.get("path"))
    # Kubernetes reports the token path against the projected volume itself.
    if not token_path:
        errors.append(FieldError.required(f"{path}.path"))
    else:
        errors += _local_non_reserved_path(token_path, f"{path}.path")
    return errors


def _validate_claim_volume(source: Obj, path: str) -> Errors:
    return [] if _str(source.get("claimName")) else [FieldError.required(f"{path}.claimName")]


def _validate_nfs_volume(source: Obj, path: str) -> Errors:
    errors: Errors = []
    if not _str(source.get("server")):
        errors.append(FieldError.required(f"{path}.server"))
    nfs_path = _str(source.get("path"))
    if not nfs_path:
        errors.append(FieldError.required(f"{path}.path"))
    if not nfs_path.startswith("/"):
        errors.append(FieldError.invalid(f"{path}.path", nfs_path, "must be an absolute path"))
    return errors


_VOLUME_VALIDATORS: dict[str, Callable[[Obj, str], Errors]] = {
    "emptyDir": _validate_empty_dir,
    "hostPath": _validate_host_path,
    "secret": _validate_secret_volume,
    "configMap": _validate_config_map_volume,
    "downwardAPI": _validate_downward_api_volume,
    "projected": _validate_projected_volume,
    "persistentVolumeClaim": _validate_claim_volume,
    "nfs": _validate_nfs_volume,
}


def _validate_key_to_path(item: Obj, path: str) -> Errors:
    errors: Errors = []
    if not _str(item.get("key")):
        errors.append(FieldError.required(f"{path}.key"))
    item_path = _str(item.get("path"))
    if not item_path:
        errors.append(FieldError.required(f"{path}.path"))
    errors += _local_non_reserved_path(item_path, f"{path}.path")
    errors += _file_mode(item.get("mode"), f"{path}.mode")
    return errors


def _file_mode(value: Any, path: str) -> Errors:
    mode = _int(value)
    if mode is not None and not 0 <= mode <= 0o777:
        return [FieldError.invalid(path, mode, _FILE_MODE_ERROR)]
    return []


def _no_backsteps(target: str, path: str) -> Errors:
    if ".." in target.split("/"):
        return [FieldError.invalid(path, target, "must not contain '..'")]
    return []


def _local_descending_path(target: str, path: str) -> Errors:
    errors: Errors = []
    if target.startswith("/"):
        errors.append(FieldError.invalid(path, target, "must be a relative path"))
    return errors + _no_backsteps(target, path)


def _local_non_reserved_path(target: str, path: str) -> Errors:
    errors = _local_descending_path(target, path)
    if target.startswith("..") and not target.startswith("../"):
        errors.append(FieldError.invalid(path, target, "must not start with '..'"))
    return errors


def _validate_object_field_selector(selector: Obj, expressions: tuple[str, ...], path: str) -> Errors:
    version = _str(selector.get("apiVersion"))
    if not version:
        return [FieldError.required(f"{path}.apiVersion")]
    field_path = _str(selector.get("fieldPath"))
    if not field_path:
        return [FieldError.required(f"{path}.fieldPath")]
    subscripted = _split_subscript(field_path)
    problem = ""
    if version != "v1":
        problem = f"unsupported pod version: {version}"
    elif subscripted and subscripted[0] not in ("metadata.annotations", "metadata.labels"):
        problem = f"field label does not support subscript: {field_path}"
    elif not subscripted and field_path not in _CONVERTIBLE_FIELD_PATHS and field_path != "spec.host":
        problem = f"field label not supported: {field_path}"
    if problem:
        return [FieldError.invalid(f"{path}.fieldPath", field_path, f"error converting fieldPath: {problem}")]
    if subscripted:
        base, key = subscripted
        key = key.lower() if base == "metadata.annotations" else key
        return _names(is_qualified_name(key), path, key)
    converted = "spec.nodeName" if field_path == "spec.host" else field_path
    if converted not in expressions:
        return [FieldError.not_supported(f"{path}.fieldPath", converted, expressions)]
    return []


def _split_subscript(field_path: str) -> tuple[str, str] | None:
    """`metadata.labels['app']` -> (`metadata.labels`, `app`)."""
    if not field_path.endswith("']"):
        return None
    base, sep, key = field_path[:-2].partition("['")
    return (base, key) if sep and base else None


def _validate_resource_field_selector(selector: Obj, path: str, in_volume: bool) -> Errors:
    errors: Errors = []
    resource = _str(selector.get("resource"))
    if in_volume and not _str(selector.get("containerName")):
        errors.append(FieldError.required(f"{path}.containerName"))
    elif not resource:
        errors.append(FieldError.required(f"{path}.resource"))
    elif resource not in _RESOURCE_FIELD_PATHS and not resource.startswith(
        ("requests.hugepages-", "limits.hugepages-")
    ):
        errors.append(FieldError.not_supported(f"{path}.resource", resource, _RESOURCE_FIELD_PATHS))
    divisor = selector.get("divisor")
    if divisor is None:
        return errors
    quantity = _quantity(divisor, f"{path}.divisor", errors)
    if quantity is None or quantity.is_zero():
        return errors
    text = str(quantity)
    if resource in ("limits.cpu", "requests.cpu") and text not in ("1m", "1"):
        errors.append(
            FieldError.invalid(
                f"{path}.divisor",
                resource,
                "only divisor's values 1m and 1 are supported with the cpu resource",
            )
        )
    for kind, names in (
        ("memory", ("limits.memory", "requests.memory")),
        ("local ephemeral storage", ("limits.ephemeral-storage", "requests.ephemeral-storage")),
    ):
        if resource in names and text not in _BYTE_DIVISORS:
            errors.append(
                FieldError.invalid(
                    f"{path}.divisor",
                    resource,
                    f"only divisor's values {_BYTE_DIVISOR_LIST} are supported with the {kind} resource",
                )
            )
    if resource.startswith(("requests.hugepages-", "limits.hugepages-")) and text not in _BYTE_DIVISORS:
        errors.append(
            FieldError.invalid(
                f"{path}.divisor",
                resource,
                f"only divisor's values {_BYTE_DIVISOR_LIST} are supported with the hugepages resource",
            )
        )
    return errors


# --- containers -------------------------------------------------------------------------------------------

_PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
_LIFECYCLE_HANDLERS = ("exec", "httpGet", "tcpSocket", "sleep")
_STANDARD_CONTAINER_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage"})
_STANDARD_RESOURCES = _STANDARD_CONTAINER_RESOURCES | {
    "requests.cpu", "requests.memory", "requests.ephemeral-storage", "limits.cpu", "limits.memory",
    "limits.ephemeral-storage", "pods", "resourcequotas", "services", "replicationcontrollers", "secrets",
    "configmaps", "persistentvolumeclaims", "storage", "requests.storage", "services.nodeports",
    "services.loadbalancers",
}  # fmt: skip
_INIT_CONTAINER_ONLY = "may not be set for init containers without restartPolicy=Always"


def _validate_containers(
    containers: list[Obj], volumes: dict[str, Obj], grace: int | None, restart_policy: str, host_users: bool
) -> Errors:
    """validateContainers: regular containers, with probes and lifecycle; no container restartPolicy."""
    if not containers:
        return [FieldError.required("spec.containers")]
    errors: Errors = []
    names: set[str] = set()
    for index, container in enumerate(containers):
        path = f"spec.containers[{index}]"
        errors += _validate_container_common(container, path, volumes, restart_policy, host_users)
        name = _str(container.get("name"))
        if name in names:
            errors.append(FieldError.duplicate(f"{path}.name", name))
        names.add(name)
        errors += _validate_probes_and_lifecycle(container, path, grace)
        if container.get("restartPolicy") is not None:
            errors.append(FieldError.forbidden(f"{path}.restartPolicy", "may not be set for non-init containers"))
    return errors + _host_port_conflicts(containers, "spec.containers")


def _validate_init_containers(
    containers: list[Obj],
    regular: list[Obj],
    volumes: dict[str, Obj],
    grace: int | None,
    restart_policy: str,
    host_users: bool,
) -> Errors:
    """validateInitContainers: names unique across all containers; probes only on sidecars."""
    errors: Errors = []
    names = {_str(container.get("name")) for container in regular}
    for index, container in enumerate(containers):
        path = f"spec.initContainers[{index}]"
        errors += _validate_container_common(container, path, volumes, restart_policy, host_users)
        policy = container.get("restartPolicy")
        if policy is not None and policy != "Always":
            errors.append(FieldError.not_supported(f"{path}.restartPolicy", policy, ["Always"]))
        name = _str(container.get("name"))
        if name in names:
            errors.append(FieldError.duplicate(f"{path}.name", name))
        elif name:
            names.add(name)
        # Init containers run one at a time, so host ports only clash within one of them.
        errors += _host_port_conflicts([container], "spec.initContainers")
        if policy == "Always":
            errors += _validate_probes_and_lifecycle(container, path, grace)
        else:
            for key in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
                if container.get(key) is not None:
                    errors.append(FieldError.forbidden(f"{path}.{key}", _INIT_CONTAINER_ONLY))
    return errors


def _validate_probes_and_lifecycle(container: Obj, path: str, grace: int | None) -> Errors:
    errors: Errors = []
    if container.get("lifecycle") is not None:
        lifecycle = _dict(container["lifecycle"])
        for hook in ("postStart", "preStop"):
            if lifecycle.get(hook) is not None:
                errors += _validate_handler(
                    _dict(lifecycle[hook]), _LIFECYCLE_HANDLERS, f"{path}.lifecycle.{hook}", grace
                )
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        if container.get(key) is None:
            continue
        probe = _dict(container[key])
        probe_path = f"{path}.{key}"
        errors += _validate_probe(probe, probe_path, grace)
        if key == "readinessProbe":
            if probe.get("terminationGracePeriodSeconds") is not None:
                errors.append(
                    FieldError.invalid(
                        f"{probe_path}.terminationGracePeriodSeconds",
                        probe["terminationGracePeriodSeconds"],
                        "must not be set for readinessProbes",
                    )
                )
        elif (_int(probe.get("successThreshold")) or 0) != 1:
            errors.append(
                FieldError.invalid(
                    f"{probe_path}.successThreshold", _int(probe.get("successThreshold")) or 0, "must be 1"
                )
            )
    return errors


def _validate_probe(probe: Obj, path: str, grace: int | None) -> Errors:
    errors = _validate_handler(probe, _PROBE_HANDLERS, path, grace)
    for key in (
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ):
        value = _int(probe.get(key)) or 0
        if value < 0:
            errors.append(FieldError.invalid(f"{path}.{key}", value, _NEGATIVE))
    grace_override = probe.get("terminationGracePeriodSeconds")
    if grace_override is not None and (_int(grace_override) or 0) <= 0:
        errors.append(
            FieldError.invalid(
                f"{path}.terminationGracePeriodSeconds", _int(grace_override) or 0, "must be greater than 0"
            )
        )
    return errors


def _validate_handler(handler: Obj, kinds: tuple[str, ...], path: str, grace: int | None) -> Errors:
    """Exactly one handler: exec, httpGet, tcpSocket, grpc (probes) or sleep (lifecycle hooks)."""
    errors: Errors = []
    count = 0
    for kind in kinds:
        if handler.get(kind) is None:
            continue
        if count:
            errors.append(FieldError.forbidden(f"{path}.{kind}", "may not specify more than 1 handler type"))
            continue
        count += 1
        action = _dict(handler[kind])
        action_path = f"{path}.{kind}"
        if kind == "exec" and not _list(action.get("command")):
            errors.append(FieldError.required(f"{action_path}.command"))
        elif kind == "httpGet":
            errors += _validate_http_get(action, action_path)
        elif kind == "tcpSocket":
            errors += _port_number_or_name(action.get("port"), f"{action_path}.port")
        elif kind == "grpc":
            errors += _port_number_or_name(_int(action.get("port")) or 0, f"{action_path}.port")
        elif kind == "sleep" and grace is not None:
            seconds = _int(action.get("seconds")) or 0
            if not 0 <= seconds <= grace:
                errors.append(
                    FieldError.invalid(
                        action_path,
                        seconds,
                        f"must be non-negative and less than terminationGracePeriodSeconds ({grace})",
                    )
                )
    if not count:
        errors.append(FieldError.required(path, "must specify a handler type"))
    return errors


def _validate_http_get(action: Obj, path: str) -> Errors:
    errors: Errors = []
    if not _str(action.get("path")):
        errors.append(FieldError.required(f"{path}.path"))
    errors += _port_number_or_name(action.get("port"), f"{path}.port")
    scheme = _str(action.get("scheme"))
    if scheme not in ("HTTP", "HTTPS"):
        errors.append(FieldError.not_supported(f"{path}.scheme", scheme, ["HTTP", "HTTPS"]))
    for header in _dicts(action.get("httpHeaders")):
        name = _str(header.get("name"))
        if not _HTTP_HEADER_NAME.fullmatch(name):
            errors.append(
                FieldError.invalid(
                    f"{path}.httpHeaders",
                    name,
                    regex_error(
                        "a valid HTTP header must consist of alphanumeric characters or '-'",
                        _HTTP_HEADER_NAME_FMT,
                        "X-Header-Name",
                    ),
                )
            )
    return errors


def _port_number_or_name(port: Any, path: str) -> Errors:
    """An IntOrString port: a number in range, or a valid port name (a quoted "8080" is a name)."""
    if isinstance(port, str):
        return _names(is_port_name(port), path, port)
    number = _int(port) or 0
    return [FieldError.invalid(path, number, message) for message in is_port_number(number)]


def _validate_container_common(
    container: Obj, path: str, volumes: dict[str, Obj], restart_policy: str, host_users: bool
) -> Errors:
    """validateContainerCommon: name, image, ports, env, mounts, pull policy, resources, security."""
    errors: Errors = []
    name = _str(container.get("name"))
    if not name:
        errors.append(FieldError.required(f"{path}.name"))
    else:
        errors += _names(is_dns1123_label(name), f"{path}.name", name)
    if not _str(container.get("image")):
        errors.append(FieldError.required(f"{path}.image"))
    errors += _enum(
        container.get("terminationMessagePolicy"),
        f"{path}.terminationMessagePolicy",
        ["File", "FallbackToLogsOnError"],
    )
    mounts = _dicts(container.get("volumeMounts"))
    devices = _dicts(container.get("volumeDevices"))
    errors += _validate_ports(_dicts(container.get("ports")), f"{path}.ports")
    errors += _validate_env(_dicts(container.get("env")), f"{path}.env")
    errors += _validate_env_from(_dicts(container.get("envFrom")), f"{path}.envFrom")
    errors += _validate_volume_mounts(mounts, devices, volumes, container, f"{path}.volumeMounts")
    errors += _validate_volume_devices(devices, mounts, volumes, f"{path}.volumeDevices")
    errors += _enum(container.get("imagePullPolicy"), f"{path}.imagePullPolicy", ["Always", "IfNotPresent", "Never"])
    errors += validate_resource_requirements(_dict(container.get("resources")), f"{path}.resources")
    errors += _validate_resize_policy(_dicts(container.get("resizePolicy")), f"{path}.resizePolicy", restart_policy)
    errors += _validate_container_security(container.get("securityContext"), f"{path}.securityContext", host_users)
    return errors


def _enum(value: Any, path: str, supported: list[str]) -> Errors:
    """A required enumeration: empty is Required, anything else unknown is NotSupported."""
    text = value if isinstance(value, str) else ""
    if not text:
        return [FieldError.required(path)]
    if text not in supported:
        return [FieldError.not_supported(path, text, supported)]
    return []


def _validate_ports(ports: list[Obj], path: str) -> Errors:
    errors: Errors = []
    names: set[str] = set()
    for index, port in enumerate(ports):
        port_path = f"{path}[{index}]"
        name = _str(port.get("name"))
        if name:
            messages = is_port_name(name)
            if messages:
                errors += _names(messages, f"{port_path}.name", name)
            elif name in names:
                errors.append(FieldError.duplicate(f"{port_path}.name", name))
            else:
                names.add(name)
        container_port = _int(port.get("containerPort")) or 0
        if not container_port:
            errors.append(FieldError.required(f"{port_path}.containerPort"))
        else:
            errors += [
                FieldError.invalid(f"{port_path}.containerPort", container_port, message)
                for message in is_port_number(container_port)
            ]
        host_port = _int(port.get("hostPort")) or 0
        if host_port:
            errors += [
                FieldError.invalid(f"{port_path}.hostPort", host_port, message) for message in is_port_number(host_port)
            ]
        protocol = _str(port.get("protocol"))
        if not protocol:
            errors.append(FieldError.required(f"{port_path}.protocol"))
        elif protocol not in ("SCTP", "TCP", "UDP"):
            errors.append(FieldError.not_supported(f"{port_path}.protocol", protocol, ["SCTP", "TCP", "UDP"]))
    return errors


def _host_port_conflicts(containers: list[Obj], path: str) -> Errors:
    """AccumulateUniqueHostPorts: one protocol/hostIP/hostPort per pod (per init container)."""
    errors: Errors = []
    seen: set[str] = set()
    for index, container in enumerate(containers):
        for port_index, port in enumerate(_dicts(container.get("ports"))):
            host_port = _int(port.get("hostPort")) or 0
            if not host_port:
                continue
            key = f"{_str(port.get('protocol'))}/{_str(port.get('hostIP'))}/{host_port}"
            if key in seen:
                errors.append(FieldError.duplicate(f"{path}[{index}].ports[{port_index}].hostPort", key))
            seen.add(key)
    return errors


def _validate_env(variables: list[Obj], path: str) -> Errors:
    errors: Errors = []
    for index, variable in enumerate(variables):
        variable_path = f"{path}[{index}]"
        name = _str(variable.get("name"))
        if not name:
            errors.append(FieldError.required(f"{variable_path}.name"))
        else:
            errors += _names(is_env_var_name(name), f"{variable_path}.name", name)
        if variable.get("valueFrom") is not None:
            errors += _validate_env_source(_dict(variable["valueFrom"]), _str(variable.get("value")), variable_path)
    return errors


def _validate_env_source(source: Obj, value: str, variable_path: str) -> Errors:
    path = f"{variable_path}.valueFrom"
    errors: Errors = []
    count = 0
    if source.get("fieldRef") is not None:
        count += 1
        errors += _validate_object_field_selector(_dict(source["fieldRef"]), _ENV_FIELD_PATHS, f"{path}.fieldRef")
    if source.get("resourceFieldRef") is not None:
        count += 1
        errors += _validate_resource_field_selector(
            _dict(source["resourceFieldRef"]), f"{path}.resourceFieldRef", False
        )
    for kind in ("configMapKeyRef", "secretKeyRef"):
        if source.get(kind) is not None:
            count += 1
            errors += _validate_key_selector(_dict(source[kind]), f"{path}.{kind}")
    if not count:
        errors.append(
            FieldError.invalid(
                path,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            )
        )
    elif value:
        errors.append(FieldError.invalid(path, "", "may not be specified when `value` is not empty"))
    elif count > 1:
        errors.append(FieldError.invalid(path, "", "may not have more than one field specified at a time"))
    return errors


def _validate_key_selector(selector: Obj, path: str) -> Errors:
    name = _str(selector.get("name"))
    errors = _names(name_is_dns_subdomain(name), f"{path}.name", name)
    key = _str(selector.get("key"))
    if not key:
        errors.append(FieldError.required(f"{path}.key"))
    else:
        errors += _names(is_config_map_key(key), f"{path}.key", key)
    return errors


def _validate_env_from(sources: list[Obj], path: str) -> Errors:
    errors: Errors = []
    for index, source in enumerate(sources):
        source_path = f"{path}[{index}]"
        prefix = _str(source.get("prefix"))
        if prefix:
            errors += _names(is_env_var_name(prefix), f"{source_path}.prefix", prefix)
        count = 0
        for kind in ("configMapRef", "secretRef"):
            if source.get(kind) is None:
                continue
            count += 1
            name = _str(_dict(source[kind]).get("name"))
            if not name:
                errors.append(FieldError.required(f"{source_path}.{kind}.name"))
            else:
                # Kubernetes checks these names as generateName prefixes, so a trailing '-' passes.
                errors += _names(name_is_dns_subdomain(name, True), f"{source_path}.{kind}.name", name)
        # These two errors name the envFrom list, not the entry.
        if not count:
            errors.append(FieldError.invalid(path, "", "must specify one of: `configMapRef` or `secretRef`"))
        elif count > 1:
            errors.append(FieldError.invalid(path, "", "may not have more than one field specified at a time"))
    return errors


def _validate_volume_mounts(
    mounts: list[Obj], devices: list[Obj], volumes: dict[str, Obj], container: Obj, path: str
) -> Errors:
    errors: Errors = []
    mount_points: set[str] = set()
    device_names = {_str(device.get("name")) for device in devices}
    device_paths = {_str(device.get("devicePath")) for device in devices}
    for index, mount in enumerate(mounts):
        mount_path = f"{path}[{index}]"
        name = _str(mount.get("name"))
        target = _str(mount.get("mountPath"))
        if not name:
            errors.append(FieldError.required(f"{mount_path}.name"))
        if name not in volumes:
            errors.append(FieldError.not_found(f"{mount_path}.name", name))
        if not target:
            errors.append(FieldError.required(f"{mount_path}.mountPath"))
        if target in mount_points:
            errors.append(FieldError.invalid(f"{mount_path}.mountPath", target, "must be unique"))
        mount_points.add(target)
        if name in device_names:
            errors.append(FieldError.invalid(f"{mount_path}.name", name, "must not already exist in volumeDevices"))
        if target in device_paths:
            errors.append(
                FieldError.invalid(
                    f"{mount_path}.mountPath", target, "must not already exist as a path in volumeDevices"
                )
            )
        sub_path = _str(mount.get("subPath"))
        sub_path_expr = _str(mount.get("subPathExpr"))
        if _dict(volumes.get(name)).get("image") is not None:
            if sub_path:
                errors.append(
                    FieldError.invalid(f"{mount_path}.subPath", sub_path, "not allowed in image volume sources")
                )
            if sub_path_expr:
                errors.append(
                    FieldError.invalid(
                        f"{mount_path}.subPathExpr", sub_path_expr, "not allowed in image volume sources"
                    )
                )
        # Kubernetes reports subPath problems against the volumeMounts list, without the index.
        if sub_path:
            errors += _local_descending_path(sub_path, f"{path}.subPath")
        if sub_path_expr:
            if sub_path:
                errors.append(
                    FieldError.invalid(
                        f"{mount_path}.subPathExpr",
                        sub_path_expr,
                        "subPathExpr and subPath are mutually exclusive",
                    )
                )
            errors += _local_descending_path(sub_path_expr, f"{path}.subPathExpr")
        errors += _validate_mount_propagation(mount, container, f"{path}.mountPropagation")
        errors += _validate_recursive_read_only(mount, f"{path}.recursiveReadOnly")
    return errors


def _validate_mount_propagation(mount: Obj, container: Obj, path: str) -> Errors:
    propagation = mount.get("mountPropagation")
    if propagation is None:
        return []
    errors: Errors = []
    supported = ["Bidirectional", "HostToContainer", "None"]
    if propagation not in supported:
        errors.append(FieldError.not_supported(path, propagation, supported))
    privileged = _dict(container.get("securityContext")).get("privileged") is True
    if propagation == "Bidirectional" and not privileged:
        errors.append(
            FieldError.forbidden(path, "Bidirectional mount propagation is available only to privileged containers")
        )
    return errors


def _validate_recursive_read_only(mount: Obj, path: str) -> Errors:
    mode = mount.get("recursiveReadOnly")
    if mode is None or mode == "Disabled":
        return []
    if mode not in ("Enabled", "IfPossible"):
        return [FieldError.not_supported(path, mode, ["Disabled", "Enabled", "IfPossible"])]
    errors: Errors = []
    if mount.get("readOnly") is not True:
        errors.append(FieldError.forbidden(path, "may only be specified when readOnly is true"))
    if mount.get("mountPropagation") not in (None, "None"):
        errors.append(
            FieldError.forbidden(path, "may only be specified when mountPropagation is None or not specified")
        )
    return errors


def _validate_volume_devices(devices: list[Obj], mounts: list[Obj], volumes: dict[str, Obj], path: str) -> Errors:
    errors: Errors = []
    mount_names = {_str(mount.get("name")) for mount in mounts}
    mount_paths = {_str(mount.get("mountPath")) for mount in mounts}
    names: set[str] = set()
    paths: set[str] = set()
    for index, device in enumerate(devices):
        device_path = f"{path}[{index}]"
        name = _str(device.get("name"))
        target = _str(device.get("devicePath"))
        if not name:
            errors.append(FieldError.required(f"{device_path}.name"))
        if name in names:
            errors.append(FieldError.invalid(f"{device_path}.name", name, "must be unique"))
        volume = volumes.get(name)
        if volume is None:
            errors.append(FieldError.not_found(f"{device_path}.name", name))
        elif volume.get("persistentVolumeClaim") is None and volume.get("ephemeral") is None:
            errors.append(
                FieldError.invalid(
                    f"{device_path}.name",
                    name,
                    "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode",
                )
            )
        if not target:
            errors.append(FieldError.required(f"{device_path}.devicePath"))
        if target in paths:
            errors.append(FieldError.invalid(f"{device_path}.devicePath", target, "must be unique"))
        if target and ".." in target.split("/"):
            errors.append(FieldError.invalid(f"{device_path}.devicePath", target, "can not contain backsteps ('..')"))
        else:
            paths.add(target)
        if name in mount_names:
            errors.append(FieldError.invalid(f"{device_path}.name", name, "must not already exist in volumeMounts"))
        if target in mount_paths:
            errors.append(
                FieldError.invalid(
                    f"{device_path}.devicePath", target, "must not already exist as a path in volumeMounts"
                )
            )
        if name:
            names.add(name)
    return errors


def validate_resource_requirements(resources: Obj, path: str) -> Errors:
    """Container resources: known names, non-negative quantities, requests no larger than limits."""
    errors: Errors = []
    limits_path, requests_path = f"{path}.limits", f"{path}.requests"
    limits: dict[str, Quantity] = {}
    cpu_or_memory = huge_pages = False
    for name, raw in sorted(_dict(resources.get("limits")).items()):
        quantity = _check_resource(name, raw, f"{limits_path}[{name}]", errors)
        if quantity is not None:
            limits[name] = quantity
        huge_pages = huge_pages or name.startswith("hugepages-")
        cpu_or_memory = cpu_or_memory or name in ("cpu", "memory")
    for name, raw in sorted(_dict(resources.get("requests")).items()):
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
        elif name not in _dict(resources.get("limits")) and not _overcommit_allowed(name):
            errors.append(FieldError.required(limits_path, "Limit must be set for non overcommitable resources"))
        huge_pages = huge_pages or name.startswith("hugepages-")
        cpu_or_memory = cpu_or_memory or name in ("cpu", "memory")
    if huge_pages and not cpu_or_memory:
        errors.append(FieldError.forbidden(path, "HugePages require cpu or memory"))
    return errors


def _check_resource(name: str, raw: Any, path: str, errors: Errors) -> Quantity | None:
    errors += _validate_container_resource_name(name, path)
    quantity = _quantity(raw, path, errors)
    if quantity is None:
        return None
    if quantity.value < 0:
        errors.append(FieldError.invalid(path, str(quantity), _NEGATIVE))
    if _is_extended_resource(name) and quantity.milli_value() % 1000:
        errors.append(FieldError.invalid(path, quantity, "must be an integer"))
    if name.startswith("hugepages-") and not _divides_into_pages(name, quantity):
        errors.append(FieldError.invalid(path, str(quantity), f"{quantity} is not positive integer multiple of {name}"))
    return quantity


def _validate_container_resource_name(name: str, path: str) -> Errors:
    errors = _names(is_qualified_name(name), path, name)
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


def _validate_resize_policy(policies: list[Obj], path: str, restart_policy: str) -> Errors:
    errors: Errors = []
    seen: set[str] = set()
    for index, policy in enumerate(policies):
        resource = _str(policy.get("resourceName"))
        if resource in seen:
            errors.append(FieldError.duplicate(f"{path}[{index}]", resource))
        seen.add(resource)
        restart = _str(policy.get("restartPolicy"))
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


def _id_range(context: Obj, keys: tuple[str, ...], path: str) -> Errors:
    errors: Errors = []
    for key in keys:
        value = _int(context.get(key))
        if value is not None and not 0 <= value <= 0xFFFFFFFF:
            errors.append(FieldError.invalid(f"{path}.{key}", value, inclusive_range_error(0, 0xFFFFFFFF)))
    return errors


def _validate_seccomp(profile: Any, path: str) -> Errors:
    if profile is None:
        return []
    profile = _dict(profile)
    kind = _str(profile.get("type"))
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
            errors += _local_descending_path(_str(profile["localhostProfile"]), f"{path}.localhostProfile")
    return errors


def _validate_container_security(context: Any, path: str, host_users: bool) -> Errors:
    if context is None:
        return []
    context = _dict(context)
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


def _validate_pod_security(spec: Obj) -> Errors:
    context = _dict(spec.get("securityContext"))
    path = "spec.securityContext"
    errors = _id_range(context, ("fsGroup", "runAsUser", "runAsGroup"), path)
    for index, group in enumerate(_list(context.get("supplementalGroups"))):
        value = _int(group)
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


# --- pod spec ---------------------------------------------------------------------------------------------


def _validate_pod_spec(spec: Obj) -> Errors:
    """ValidatePodSpec, in Kubernetes' order."""
    errors: Errors = []
    if spec.get("terminationGracePeriodSeconds") is None:
        errors.append(FieldError.required("spec.terminationGracePeriodSeconds"))
    grace = _int(spec.get("terminationGracePeriodSeconds"))
    host_users = _dict(spec.get("securityContext")).get("hostUsers") is not False
    restart_policy = _str(spec.get("restartPolicy"))
    volumes, volume_errors = _validate_volumes(_dicts(spec.get("volumes")))
    errors += volume_errors
    containers = _dicts(spec.get("containers"))
    errors += _validate_containers(containers, volumes, grace, restart_policy, host_users)
    errors += _validate_init_containers(
        _dicts(spec.get("initContainers")), containers, volumes, grace, restart_policy, host_users
    )
    if spec.get("hostNetwork") is True:
        errors += _host_network_ports(containers)
    errors += _enum(spec.get("restartPolicy"), "spec.restartPolicy", ["Always", "OnFailure", "Never"])
    errors += _enum(
        spec.get("dnsPolicy"),
        "spec.dnsPolicy",
        ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
    )
    errors += validate_labels(_dict(spec.get("nodeSelector")), "spec.nodeSelector")
    errors += _validate_pod_security(spec)
    errors += _validate_dns_config(spec)
    for index, gate in enumerate(_dicts(spec.get("readinessGates"))):
        condition = _str(gate.get("conditionType"))
        errors += _names(is_qualified_name(condition), f"spec.readinessGates[{index}].conditionType", condition)
    errors += _validate_scheduling_gates(_dicts(spec.get("schedulingGates")))
    if _dict(spec.get("securityContext")).get("hostUsers") is False:
        for key, path in (("hostNetwork", "hostNetwork"), ("hostPID", "HostPID"), ("hostIPC", "HostIPC")):
            if spec.get(key) is True:
                errors.append(FieldError.forbidden(f"spec.{path}", "when `pod.Spec.HostUsers` is false"))
    for key in ("serviceAccountName", "nodeName"):
        value = _str(spec.get(key))
        if value:
            errors += _names(name_is_dns_subdomain(value), f"spec.{key}", value)
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None:
        seconds = _int(deadline)
        if seconds is None or not 1 <= seconds <= MAX_INT32:
            errors.append(
                FieldError.invalid("spec.activeDeadlineSeconds", deadline, inclusive_range_error(1, MAX_INT32))
            )
    for key in ("hostname", "subdomain"):
        value = _str(spec.get(key))
        if value:
            errors += _names(is_dns1123_label(value), f"spec.{key}", value)
    errors += validate_tolerations(_dicts(spec.get("tolerations")), "spec.tolerations")
    errors += _validate_host_aliases(_dicts(spec.get("hostAliases")))
    for key in ("priorityClassName", "runtimeClassName"):
        value = _str(spec.get(key))
        if value or (key == "runtimeClassName" and spec.get(key) is not None):
            errors += _names(name_is_dns_subdomain(value), f"spec.{key}", value)
    if spec.get("preemptionPolicy") is not None:
        errors += _enum(spec["preemptionPolicy"], "spec.preemptionPolicy", ["PreemptLowerPriority", "Never"])
    if spec.get("overhead") is not None:
        errors += validate_resource_requirements({"limits": spec["overhead"]}, "spec.overhead")
    if spec.get("os") is not None:
        os_name = _str(_dict(spec["os"]).get("name"))
        if not os_name:
            errors.append(FieldError.required("spec.os.name"))
        elif os_name not in ("linux", "windows"):
            errors.append(FieldError.not_supported("spec.os.name", os_name, ["linux", "windows"]))
    return errors


def _host_network_ports(containers: list[Obj]) -> Errors:
    errors: Errors = []
    for index, container in enumerate(containers):
        for port_index, port in enumerate(_dicts(container.get("ports"))):
            host_port = _int(port.get("hostPort")) or 0
            if host_port != (_int(port.get("containerPort")) or 0):
                errors.append(
                    FieldError.invalid(
                        f"spec.containers[{index}].ports[{port_index}].hostPort",
                        host_port,
                        "must match `containerPort` when `hostNetwork` is true",
                    )
                )
    return errors


def _validate_dns_config(spec: Obj) -> Errors:
    path = "spec.dnsConfig"
    config = spec.get("dnsConfig")
    if spec.get("dnsPolicy") == "None":
        if config is None:
            return [FieldError.required(path, "must provide `dnsConfig` when `dnsPolicy` is None")]
        if not _list(_dict(config).get("nameservers")):
            return [
                FieldError.required(
                    f"{path}.nameservers", "must provide at least one DNS nameserver when `dnsPolicy` is None"
                )
            ]
    if config is None:
        return []
    config = _dict(config)
    errors: Errors = []
    nameservers = [_str(item) for item in _list(config.get("nameservers"))]
    if len(nameservers) > 3:
        errors.append(FieldError.invalid(f"{path}.nameservers", nameservers, "must not have more than 3 nameservers"))
    for index, server in enumerate(nameservers):
        if not _is_ip(server):
            errors.append(FieldError.invalid(f"{path}.nameservers[{index}]", server, _INVALID_IP))
    searches = [_str(item) for item in _list(config.get("searches"))]
    if len(searches) > 32:
        errors.append(FieldError.invalid(f"{path}.searches", searches, "must not have more than 32 search paths"))
    if len(" ".join(searches)) > 2048:
        errors.append(
            FieldError.invalid(
                f"{path}.searches",
                searches,
                "must not have more than 2048 characters (including spaces) in the search list",
            )
        )
    for index, search in enumerate(searches):
        # RelaxedDNSSearchValidation (on by default): "." and underscores are allowed.
        if search == ".":
            continue
        search = search.removesuffix(".")
        messages = []
        if len(search.encode()) > 253:
            messages.append(max_len_error(253))
        if not _DNS_SUBDOMAIN_UNDERSCORE.fullmatch(search):
            messages.append(regex_error(_SUBDOMAIN_UNDERSCORE_ERROR, _SUBDOMAIN_UNDERSCORE_FMT, "example.com"))
        errors += _names(messages, f"{path}.searches[{index}]", search)
    for index, option in enumerate(_dicts(config.get("options"))):
        if not _str(option.get("name")):
            errors.append(FieldError.required(f"{path}.options[{index}]", "must not be empty"))
    return errors


def _validate_scheduling_gates(gates: list[Obj]) -> Errors:
    errors: Errors = []
    seen: set[str] = set()
    for index, gate in enumerate(gates):
        name = _str(gate.get("name"))
        errors += _names(is_qualified_name(name), f"spec.schedulingGates[{index}]", name)
        if name in seen:
            errors.append(FieldError.duplicate(f"spec.schedulingGates[{index}]", name))
        seen.add(name)
    return errors


def validate_tolerations(tolerations: list[Obj], path: str) -> Errors:
    """ValidateTolerations: key, operator/value agreement, and NoExecute for tolerationSeconds."""
    errors: Errors = []
    for index, toleration in enumerate(tolerations):
        item = f"{path}[{index}]"
        key = _str(toleration.get("key"))
        operator = _str(toleration.get("operator"))
        value = _str(toleration.get("value"))
        effect = _str(toleration.get("effect"))
        if key:
            errors += _names(is_qualified_name(key), f"{item}.key", key)
        if not key and operator != "Exists":
            errors.append(
                FieldError.invalid(
                    f"{item}.operator",
                    operator,
                    'operator must be Exists when `key` is empty, which means "match all values and all keys"',
                )
            )
        if toleration.get("tolerationSeconds") is not None and effect != "NoExecute":
            errors.append(
                FieldError.invalid(
                    f"{item}.effect", effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"
                )
            )
        if operator in ("Equal", ""):
            messages = is_label_value(value)
            if messages:
                errors.append(FieldError.invalid(f"{item}.operator", value, ";".join(messages)))
        elif operator == "Exists":
            if value:
                errors.append(
                    FieldError.invalid(f"{item}.operator", value, "value must be empty when `operator` is 'Exists'")
                )
        else:
            errors.append(FieldError.not_supported(f"{item}.operator", operator, ["Equal", "Exists"]))
        if effect and effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            errors.append(
                FieldError.not_supported(f"{item}.effect", effect, ["NoSchedule", "PreferNoSchedule", "NoExecute"])
            )
    return errors


def _validate_host_aliases(aliases: list[Obj]) -> Errors:
    errors: Errors = []
    for index, alias in enumerate(aliases):
        address = _str(alias.get("ip"))
        if not _is_ip(address):
            errors.append(FieldError.invalid(f"spec.hostAliases[{index}].ip", address, _INVALID_IP))
        for host_index, hostname in enumerate(_list(alias.get("hostnames"))):
            name = _str(hostname)
            errors += _names(is_dns1123_subdomain(name), f"spec.hostAliases[{index}].hostnames[{host_index}]", name)
    return errors


# --- pods -------------------------------------------------------------------------------------------------


def validate_pod(pod: Obj) -> list[FieldError]:
    """ValidatePodCreate for a defaulted v1 pod: every error, in the order Kubernetes reports them."""
    errors = _validate_pod_metadata_and_spec(pod)
    spec = _dict(pod.get("spec"))
    if _list(spec.get("ephemeralContainers")):
        errors.append(FieldError.forbidden("spec.ephemeralContainers", "cannot be set on create"))
    if _str(spec.get("nodeName")) and _list(spec.get("schedulingGates")):
        errors.append(
            FieldError.forbidden("spec.nodeName", "cannot be set until all schedulingGates have been cleared")
        )
    return errors


def _validate_pod_metadata_and_spec(pod: Obj) -> Errors:
    meta = _dict(pod.get("metadata"))
    spec = _dict(pod.get("spec"))
    errors = _validate_object_meta(meta, name_is_dns_subdomain)
    errors += _validate_pod_annotations(meta, spec)
    errors += _validate_pod_spec(spec)
    if not _str(spec.get("serviceAccountName")):
        for index, volume in enumerate(_dicts(spec.get("volumes"))):
            for source_index, projection in enumerate(_dicts(_dict(volume.get("projected")).get("sources"))):
                if projection.get("serviceAccountToken") is not None:
                    errors.append(
                        FieldError.forbidden(
                            f"spec.volumes[{index}].projected.sources[{source_index}].serviceAccountToken",
                            "must not be specified when serviceAccountName is not set",
                        )
                    )
    for key in ("containers", "initContainers"):
        for index, container in enumerate(_dicts(spec.get(key))):
            image = _str(container.get("image"))
            if image != image.strip():
                errors.append(
                    FieldError.invalid(
                        f"spec.{key}[{index}].image", image, "must not have leading or trailing whitespace"
                    )
                )
    return errors


def validate_pod_update(old: Obj, new: Obj) -> list[FieldError]:
    """ValidatePodUpdate: the new pod must be valid, and only the mutable fields may differ.

    Both pods are defaulted. The metadata checks cover name, namespace and uid; resourceVersion,
    generation and timestamps are the API server's to manage. The closing `spec: Forbidden` error ends
    with a diff that lists each changed spec field as `- path: old` / `+ path: new` (JSON values)
    instead of Go's cmp.Diff of the internal struct.
    """
    old_meta, new_meta = _dict(old.get("metadata")), _dict(new.get("metadata"))
    errors: Errors = []
    for key in ("name", "namespace", "uid"):
        if key == "uid" and not new_meta.get(key):
            continue
        if new_meta.get(key) != old_meta.get(key):
            errors.append(FieldError.invalid(f"metadata.{key}", new_meta.get(key), "field is immutable"))
    errors += _validate_pod_metadata_and_spec(new)
    errors += _validate_pod_annotations(new_meta, _dict(new.get("spec")))
    old_spec, new_spec = _dict(old.get("spec")), _dict(new.get("spec"))
    for key in ("containers", "initContainers"):
        container_errors, stop = _container_updates(_dicts(new_spec.get(key)), _dicts(old_spec.get(key)), key)
        errors += container_errors
        if stop:
            return errors
    deadline_errors = _deadline_update(old_spec.get("activeDeadlineSeconds"), new_spec.get("activeDeadlineSeconds"))
    if deadline_errors and new_spec.get("activeDeadlineSeconds") is not None:
        return errors + deadline_errors
    errors += deadline_errors
    errors += _tolerations_update(_dicts(old_spec.get("tolerations")), _dicts(new_spec.get("tolerations")))
    errors += _scheduling_gates_update(_dicts(old_spec.get("schedulingGates")), _dicts(new_spec.get("schedulingGates")))
    old_semantic = _semantic(old_spec)
    munged = _semantic(_munge(old_spec, new_spec))
    if munged != old_semantic:
        diff = "".join(line + "\n" for line in _diff(old_semantic, munged, "spec"))
        detail = f"pod updates may not change fields other than {','.join(UPDATABLE_POD_SPEC_FIELDS)}\n{diff}"
        errors.append(FieldError.forbidden("spec", detail))
    return errors


def _container_updates(new: list[Obj], old: list[Obj], key: str) -> tuple[Errors, bool]:
    if len(new) != len(old):
        return [FieldError.forbidden(f"spec.{key}", "pod updates may not add or remove containers")], True
    errors: Errors = []
    for index, container in enumerate(new):
        image = _str(container.get("image"))
        if not image:
            errors.append(FieldError.required(f"spec.{key}[{index}].image"))
        if image != image.strip():
            errors.append(
                FieldError.invalid(f"spec.{key}[{index}].image", image, "must not have leading or trailing whitespace")
            )
    return errors, False


def _deadline_update(old: Any, new: Any) -> Errors:
    path = "spec.activeDeadlineSeconds"
    if new is not None:
        value = _int(new)
        if value is None or not 0 <= value <= MAX_INT32:
            return [FieldError.invalid(path, new, inclusive_range_error(0, MAX_INT32))]
        if old is not None and (_int(old) or 0) < value:
            return [FieldError.invalid(path, value, "must be less than or equal to previous value")]
        return []
    if old is not None:
        return [FieldError.invalid(path, None, "must not update from a positive integer to nil value")]
    return []


def _tolerations_update(old: list[Obj], new: list[Obj]) -> Errors:
    for existing in old:
        # An existing toleration may only change its tolerationSeconds.
        if not any(_without_seconds(existing) == _without_seconds(candidate) for candidate in new):
            return [
                FieldError.forbidden(
                    "spec.tolerations", "existing toleration can not be modified except its tolerationSeconds"
                )
            ]
    return validate_tolerations(new, "spec.tolerations")


def _without_seconds(toleration: Obj) -> Obj:
    return _semantic({key: value for key, value in toleration.items() if key != "tolerationSeconds"})


def _scheduling_gates_update(old: list[Obj], new: list[Obj]) -> Errors:
    old_names = {_str(gate.get("name")) for gate in old}
    errors: Errors = []
    for index, gate in enumerate(new):
        name = _str(gate.get("name"))
        if name not in old_names:
            errors.append(
                FieldError.forbidden(
                    f"spec.schedulingGates[{index}].name",
                    f"only deletion is allowed, but found new scheduling gate '{name}'",
                )
            )
    return errors


def _munge(old: Obj, new: Obj) -> Obj:
    """The new spec with every field that may change put back to its old value."""
    munged = dict(new)
    for key in ("containers", "initContainers"):
        old_containers = _dicts(old.get(key))
        if key in munged:
            munged[key] = [
                _with_key(container, "image", old_containers[index].get("image"))
                for index, container in enumerate(_dicts(new.get(key)))
            ]
    for key in ("activeDeadlineSeconds", "schedulingGates", "tolerations"):
        munged = _with_key(munged, key, old.get(key))
    old_grace, new_grace = (
        _int(old.get("terminationGracePeriodSeconds")),
        _int(new.get("terminationGracePeriodSeconds")),
    )
    if old_grace is not None and old_grace < 0 and new_grace == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    return munged


def _with_key(obj: Obj, key: str, value: Any) -> Obj:
    copy = {name: item for name, item in obj.items() if name != key}
    if value is not None:
        copy[key] = value
    return copy


def _semantic(value: Any) -> Any:
    """Drop nulls and empty lists, which Kubernetes' semantic equality does not tell from absent."""
    if isinstance(value, dict):
        return {key: _semantic(item) for key, item in value.items() if item is not None and item != []}
    if isinstance(value, list):
        return [_semantic(item) for item in value]
    return value


def _diff(old: Any, new: Any, path: str) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        lines: list[str] = []
        for key in [*old, *(key for key in new if key not in old)]:
            child = f"{path}.{key}"
            if key not in new:
                lines.append(f"- {child}: {_render(old[key])}")
            elif key not in old:
                lines.append(f"+ {child}: {_render(new[key])}")
            else:
                lines += _diff(old[key], new[key], child)
        return lines
    if isinstance(old, list) and isinstance(new, list):
        lines = []
        for index in range(max(len(old), len(new))):
            child = f"{path}[{index}]"
            if index >= len(new):
                lines.append(f"- {child}: {_render(old[index])}")
            elif index >= len(old):
                lines.append(f"+ {child}: {_render(new[index])}")
            else:
                lines += _diff(old[index], new[index], child)
        return lines
    if old == new:
        return []
    return [f"- {path}: {_render(old)}", f"+ {path}: {_render(new)}"]


def _render(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


# --- configmaps and secrets -------------------------------------------------------------------------------


def validate_configmap(configmap: Obj) -> list[FieldError]:
    """ValidateConfigMap: metadata, key names, no key in both maps, at most 1 MiB of data."""
    errors = _validate_object_meta(_dict(configmap.get("metadata")), name_is_dns_subdomain)
    data = _dict(configmap.get("data"))
    binary = _dict(configmap.get("binaryData"))
    size = 0
    for key in sorted(data):
        errors += _names(is_config_map_key(key), f"data[{key}]", key)
        if key in binary:
            errors.append(FieldError.invalid(f"data[{key}]", key, "duplicate of key present in binaryData"))
        size += len(_str(data[key]).encode())
    for key in sorted(binary):
        errors += _names(is_config_map_key(key), f"binaryData[{key}]", key)
        size += len(_decoded(binary[key]))
    if size > MAX_SECRET_SIZE:
        # Kubernetes names no field: the whole object is too large.
        errors.append(FieldError.too_long("", MAX_SECRET_SIZE))
    return errors


def validate_secret(secret: Obj) -> list[FieldError]:
    """ValidateSecret on a defaulted secret: metadata, key names, at most 1 MiB, the keys its type needs."""
    errors = _validate_object_meta(_dict(secret.get("metadata")), name_is_dns_subdomain)
    data = _dict(secret.get("data"))
    size = 0
    for key in sorted(data):
        errors += _names(is_config_map_key(key), f"data[{key}]", key)
        size += len(_decoded(data[key]))
    if size > MAX_SECRET_SIZE:
        errors.append(FieldError.too_long("data", MAX_SECRET_SIZE))
    kind = _str(secret.get("type"))
    if kind == "kubernetes.io/service-account-token":
        annotation = "kubernetes.io/service-account.name"
        if not _str(_dict(_dict(secret.get("metadata")).get("annotations")).get(annotation)):
            errors.append(FieldError.required(f"metadata.annotations[{annotation}]"))
    elif kind == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            errors += [FieldError.required("data[username]"), FieldError.required("data[password]")]
    elif kind == "kubernetes.io/ssh-auth":
        if not _decoded(data.get("ssh-privatekey", "")):
            errors.append(FieldError.required("data[ssh-privatekey]"))
    else:
        required = {
            "kubernetes.io/dockercfg": (".dockercfg",),
            "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
            "kubernetes.io/tls": ("tls.crt", "tls.key"),
        }.get(kind, ())
        errors += [FieldError.required(f"data[{key}]") for key in required if key not in data]
    return errors


def _decoded(value: Any) -> bytes:
    text = _str(value)
    try:
        return base64.b64decode(text.replace("\n", "").replace("\r", ""), validate=True)
    except (binascii.Error, ValueError):
        return text.encode()


# --- warnings (pkg/api/pod/warnings.go and the pod strategy's WarningsOnCreate) ---------------------------

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


def pod_warnings(pod: Obj) -> list[str]:
    """The warnings the API server sends with a created pod (the `Warning:` lines kubectl prints)."""
    meta, spec = _dict(pod.get("metadata")), _dict(pod.get("spec"))
    annotations = _dict(meta.get("annotations"))
    warnings: list[str] = []
    name_problems = is_dns1123_label(_str(meta.get("name")))
    if name_problems:
        warnings.append(
            "metadata.name: this is used in the Pod's hostname, which can result in surprising behavior; "
            f"a DNS label is recommended: [{' '.join(name_problems)}]"
        )
    for key in _dict(spec.get("nodeSelector")):
        if key in _DEPRECATED_NODE_LABELS:
            warnings.append(f"spec.nodeSelector[{key}]: {_DEPRECATED_NODE_LABELS[key]}")
    for index, constraint in enumerate(_dicts(spec.get("topologySpreadConstraints"))):
        path = f"spec.topologySpreadConstraints[{index}]"
        topology_key = _str(constraint.get("topologyKey"))
        if topology_key in _DEPRECATED_NODE_LABELS:
            warnings.append(f"{path}.topologyKey: {topology_key} is {_DEPRECATED_NODE_LABELS[topology_key]}")
        if constraint.get("labelSelector") is None:
            warnings.append(f"{path}.labelSelector: {_NO_POD_MATCHES}")
    for key, message in _DEPRECATED_ANNOTATIONS.items():
        if key in annotations:
            warnings.append(f"metadata.annotations[{key}]: {message}")
    for index, volume in enumerate(_dicts(spec.get("volumes"))):
        for key, path_name, message in _DEPRECATED_VOLUMES:
            if volume.get(key) is not None:
                warnings.append(f"spec.volumes[{index}].{path_name}: {message}")
    warnings += _duplicate_warnings(_dicts(spec.get("hostAliases")), "ip", "spec.hostAliases", "ip")
    pull_secrets = _dicts(spec.get("imagePullSecrets"))
    warnings += _duplicate_warnings(pull_secrets, "name", "spec.imagePullSecrets", "name")
    for index, secret in enumerate(pull_secrets):
        if not _str(secret.get("name")):
            warnings.append(f'spec.imagePullSecrets[{index}].name: invalid empty name ""')
    overhead = _dict(spec.get("overhead"))
    for resource in ("memory", "ephemeral-storage"):
        warnings += _fractional_bytes(overhead, resource, "spec.overhead")
    if _SECCOMP_POD_ANNOTATION in annotations and _dict(spec.get("securityContext")).get("seccompProfile") is None:
        warnings.append(f"metadata.annotations[{_SECCOMP_POD_ANNOTATION}]: {_NOT_SECCOMP_FIELD}")
    containers = _all_containers(spec)
    for path, container in containers:
        warnings += _container_warnings(container, path, annotations)
    warnings += _port_warnings(containers)
    grace = _int(spec.get("terminationGracePeriodSeconds"))
    if grace is not None and grace < 0:
        warnings.append(
            "spec.terminationGracePeriodSeconds: must be >= 0; negative values are invalid and will be treated as 1"
        )
    affinity = _dict(spec.get("affinity"))
    for kind in ("podAffinity", "podAntiAffinity"):
        terms = _dict(affinity.get(kind))
        required = f"spec.affinity.{kind}.requiredDuringSchedulingIgnoredDuringExecution"
        for index, term in enumerate(_dicts(terms.get("requiredDuringSchedulingIgnoredDuringExecution"))):
            if term.get("labelSelector") is None:
                warnings.append(f"{required}[{index}].labelSelector: {_NO_POD_MATCHES}")
        preferred = f"spec.affinity.{kind}.preferredDuringSchedulingIgnoredDuringExecution"
        for index, term in enumerate(_dicts(terms.get("preferredDuringSchedulingIgnoredDuringExecution"))):
            if _dict(term.get("podAffinityTerm")).get("labelSelector") is None:
                warnings.append(f"{preferred}[{index}].podAffinityTerm.labelSelector: {_NO_POD_MATCHES}")
    return warnings


def _all_containers(spec: Obj) -> list[tuple[str, Obj]]:
    """VisitContainersWithPath order: init containers, then containers, then ephemeral containers."""
    return [
        (f"spec.{key}[{index}]", container)
        for key in ("initContainers", "containers", "ephemeralContainers")
        for index, container in enumerate(_dicts(spec.get(key)))
    ]


def _duplicate_warnings(items: list[Obj], key: str, path: str, child: str) -> list[str]:
    warnings: list[str] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        value = _str(item.get(key))
        if value in seen:
            warnings.append(f"{path}[{index}].{child}: duplicate {key} {go_quote(value)}")
        seen.add(value)
    return warnings


def _fractional_bytes(resources: Obj, resource: str, path: str) -> list[str]:
    if resource not in resources:
        return []
    try:
        quantity = from_json(resources[resource])
    except ValueError:
        return []
    if quantity.milli_value() % 1000 == 0:
        return []
    return [f"{path}[{resource}]: fractional byte value {go_quote(str(quantity))} is invalid, must be an integer"]


def _container_warnings(container: Obj, path: str, annotations: Obj) -> list[str]:
    warnings: list[str] = []
    seccomp_key = _SECCOMP_CONTAINER_PREFIX + _str(container.get("name"))
    if seccomp_key in annotations and _dict(container.get("securityContext")).get("seccompProfile") is None:
        warnings.append(f"metadata.annotations[{seccomp_key}]: {_NOT_SECCOMP_FIELD}")
    resources = _dict(container.get("resources"))
    for resource in ("memory", "ephemeral-storage"):
        for kind in ("limits", "requests"):
            warnings += _fractional_bytes(_dict(resources.get(kind)), resource, f"{path}.resources.{kind}")
    seen: set[str] = set()
    for index, variable in enumerate(_dicts(container.get("env"))):
        name = _str(variable.get("name"))
        if name not in seen:
            seen.add(name)
            continue
        value, reference = _str(variable.get("value")), f"$({name})"
        # Redefining X as "$(X)..." builds on the old value; anything else silently replaces it.
        if variable.get("valueFrom") is not None or value == reference or reference not in value:
            warnings.append(
                f"{path}.env[{index}]: hides previous definition of {go_quote(name)}, "
                "which may be dropped when using apply"
            )
    return warnings


def _port_warnings(containers: list[tuple[str, Obj]]) -> list[str]:
    warnings: list[str] = []
    seen: dict[str, list[tuple[str, Obj]]] = {}
    for path, container in containers:
        for index, port in enumerate(_dicts(container.get("ports"))):
            port_path = f"{path}.ports[{index}]"
            host_ip = _str(port.get("hostIP"))
            host_port = _int(port.get("hostPort")) or 0
            if host_ip and not host_port:
                warnings.append(f"{port_path}: hostIP set without hostPort: {_go_port(port)}")
            key = f"{_int(port.get('containerPort')) or 0}/{_str(port.get('protocol'))}"
            for other_path, other in seen.get(key, []):
                other_ip, other_port = _str(other.get("hostIP")), _int(other.get("hostPort")) or 0
                if host_ip == other_ip and host_port == other_port:
                    warnings.append(f"{port_path}: duplicate port definition with {other_path}")
                elif not host_port or not other_port:
                    warnings.append(f"{port_path}: overlapping port definition with {other_path}")
                elif host_port == other_port and (not host_ip) != (not other_ip):
                    warnings.append(f"{port_path}: dangerously ambiguous port definition with {other_path}")
            seen.setdefault(key, []).append((port_path, port))
    return warnings


def _go_port(port: Obj) -> str:
    """A ContainerPort as Go's %+v prints it."""
    return (
        f"{{Name:{_str(port.get('name'))} HostPort:{_int(port.get('hostPort')) or 0} "
        f"ContainerPort:{_int(port.get('containerPort')) or 0} Protocol:{_str(port.get('protocol'))} "
        f"HostIP:{_str(port.get('hostIP'))}}}"
    )
