"""Pod volume validation, and the field selectors that volumes and env share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from podrun.json_types import JSON
from podrun.model.errors import FieldError
from podrun.model.validation.formats import FILE_MODE_ERROR, is_dns1123_label, is_qualified_name
from podrun.model.validation.readers import Errors, as_dict, as_dicts, as_int, as_str, name_errors, read_quantity

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


ENV_FIELD_PATHS = (
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


def validate_volumes(volumes: list[JSON], path: str = "spec.volumes") -> tuple[dict[str, JSON], Errors]:
    """ValidateVolumes: the valid volumes by name (the only ones mounts may use), and the errors."""
    errors: Errors = []
    valid: dict[str, JSON] = {}
    for index, volume in enumerate(volumes):
        volume_path = f"{path}[{index}]"
        name = as_str(volume.get("name"))
        volume_errors = _validate_volume_source(volume, volume_path)
        if not name:
            volume_errors.append(FieldError.required(f"{volume_path}.name"))
        else:
            volume_errors += name_errors(is_dns1123_label(name), f"{volume_path}.name", name)
        if name in valid:
            volume_errors.append(FieldError.duplicate(f"{volume_path}.name", name))
        if volume_errors:
            errors += volume_errors
        else:
            valid[name] = volume
    return valid, errors


def _validate_volume_source(volume: JSON, path: str) -> Errors:
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
            errors += validator(as_dict(source), f"{path}.{key}")
    if not count:
        errors.append(FieldError.required(path, "must specify a volume type"))
    return errors


def _validate_empty_dir(source: JSON, path: str) -> Errors:
    errors: Errors = []
    if source.get("sizeLimit") is not None:
        limit = read_quantity(source["sizeLimit"], f"{path}.sizeLimit", errors)
        if limit is not None and limit.value < 0:
            errors.append(
                FieldError.forbidden(f"{path}.sizeLimit", "SizeLimit field must be a valid resource quantity")
            )
    return errors


def _validate_host_path(source: JSON, path: str) -> Errors:
    host_path = as_str(source.get("path"))
    if not host_path:
        return [FieldError.required(f"{path}.path")]
    errors = _no_backsteps(host_path, f"{path}.path")
    kind = source.get("type")
    if kind is not None and kind not in _HOST_PATH_TYPES:
        errors.append(FieldError.not_supported(f"{path}.type", kind, _HOST_PATH_TYPES))
    return errors


def _validate_secret_volume(source: JSON, path: str) -> Errors:
    errors: Errors = []
    if not as_str(source.get("secretName")):
        errors.append(FieldError.required(f"{path}.secretName"))
    errors += _file_mode(source.get("defaultMode"), f"{path}.defaultMode")
    for index, item in enumerate(as_dicts(source.get("items"))):
        errors += _validate_key_to_path(item, f"{path}.items[{index}]")
    return errors


def _validate_config_map_volume(source: JSON, path: str) -> Errors:
    errors: Errors = []
    if not as_str(source.get("name")):
        errors.append(FieldError.required(f"{path}.name"))
    errors += _file_mode(source.get("defaultMode"), f"{path}.defaultMode")
    for index, item in enumerate(as_dicts(source.get("items"))):
        errors += _validate_key_to_path(item, f"{path}.items[{index}]")
    return errors


def _validate_downward_api_volume(source: JSON, path: str) -> Errors:
    errors = _file_mode(source.get("defaultMode"), f"{path}.defaultMode")
    # Kubernetes reports item errors against the source itself, not items[i].
    for item in as_dicts(source.get("items")):
        errors += _validate_downward_api_file(item, path)
    return errors


def _validate_downward_api_file(item: JSON, path: str) -> Errors:
    errors: Errors = []
    file_path = as_str(item.get("path"))
    if not file_path:
        errors.append(FieldError.required(f"{path}.path"))
    errors += _local_non_reserved_path(file_path, f"{path}.path")
    if item.get("fieldRef") is not None:
        errors += validate_object_field_selector(as_dict(item["fieldRef"]), _VOLUME_FIELD_PATHS, f"{path}.fieldRef")
        if item.get("resourceFieldRef") is not None:
            errors.append(
                FieldError.invalid(
                    path, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"
                )
            )
    elif item.get("resourceFieldRef") is not None:
        errors += validate_resource_field_selector(as_dict(item["resourceFieldRef"]), f"{path}.resourceFieldRef", True)
    else:
        errors.append(FieldError.required(path, "one of fieldRef and resourceFieldRef is required"))
    errors += _file_mode(item.get("mode"), f"{path}.mode")
    return errors


def _validate_projected_volume(source: JSON, path: str) -> Errors:
    errors = _file_mode(source.get("defaultMode"), f"{path}.defaultMode")
    seen: set[str] = set()

    def claim(item_path: str, bad_value: str) -> None:
        """Each file path may be projected once."""
        if item_path in seen:
            errors.append(FieldError.invalid(path, bad_value, "conflicting duplicate paths"))
        seen.add(item_path)

    for index, projection in enumerate(as_dicts(source.get("sources"))):
        source_path = f"{path}.sources[{index}]"
        count = 0
        for kind in ("secret", "configMap"):
            if projection.get(kind) is None:
                continue
            count += 1
            reference = as_dict(projection[kind])
            if not as_str(reference.get("name")):
                errors.append(FieldError.required(f"{source_path}.{kind}.name"))
            for item_index, item in enumerate(as_dicts(reference.get("items"))):
                errors += _validate_key_to_path(item, f"{source_path}.{kind}.items[{item_index}]")
                if as_str(item.get("path")):
                    claim(as_str(item.get("path")), as_str(reference.get("name")))
        if projection.get("downwardAPI") is not None:
            count += 1
            for item in as_dicts(as_dict(projection["downwardAPI"]).get("items")):
                errors += _validate_downward_api_file(item, f"{source_path}.downwardAPI")
                if as_str(item.get("path")):
                    claim(as_str(item.get("path")), as_str(item.get("path")))
        if projection.get("serviceAccountToken") is not None:
            count += 1
            errors += _validate_token_projection(as_dict(projection["serviceAccountToken"]), source_path, path)
        if projection.get("clusterTrustBundle") is not None:
            count += 1
        if count > 1:
            errors.append(FieldError.forbidden(source_path, "may not specify more than 1 volume type per source"))
    return errors


def _validate_token_projection(token: JSON, source_path: str, path: str) -> Errors:
    errors: Errors = []
    expiration = as_int(token.get("expirationSeconds")) or 0
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
    token_path = as_str(token.get("path"))
    # Kubernetes reports the token path against the projected volume itself.
    if not token_path:
        errors.append(FieldError.required(f"{path}.path"))
    else:
        errors += _local_non_reserved_path(token_path, f"{path}.path")
    return errors


def _validate_claim_volume(source: JSON, path: str) -> Errors:
    return [] if as_str(source.get("claimName")) else [FieldError.required(f"{path}.claimName")]


def _validate_nfs_volume(source: JSON, path: str) -> Errors:
    errors: Errors = []
    if not as_str(source.get("server")):
        errors.append(FieldError.required(f"{path}.server"))
    nfs_path = as_str(source.get("path"))
    if not nfs_path:
        errors.append(FieldError.required(f"{path}.path"))
    if not nfs_path.startswith("/"):
        errors.append(FieldError.invalid(f"{path}.path", nfs_path, "must be an absolute path"))
    return errors


_VOLUME_VALIDATORS: dict[str, Callable[[JSON, str], Errors]] = {
    "emptyDir": _validate_empty_dir,
    "hostPath": _validate_host_path,
    "secret": _validate_secret_volume,
    "configMap": _validate_config_map_volume,
    "downwardAPI": _validate_downward_api_volume,
    "projected": _validate_projected_volume,
    "persistentVolumeClaim": _validate_claim_volume,
    "nfs": _validate_nfs_volume,
}


def _validate_key_to_path(item: JSON, path: str) -> Errors:
    errors: Errors = []
    if not as_str(item.get("key")):
        errors.append(FieldError.required(f"{path}.key"))
    item_path = as_str(item.get("path"))
    if not item_path:
        errors.append(FieldError.required(f"{path}.path"))
    errors += _local_non_reserved_path(item_path, f"{path}.path")
    errors += _file_mode(item.get("mode"), f"{path}.mode")
    return errors


def _file_mode(value: Any, path: str) -> Errors:
    mode = as_int(value)
    if mode is not None and not 0 <= mode <= 0o777:
        return [FieldError.invalid(path, mode, FILE_MODE_ERROR)]
    return []


def _no_backsteps(target: str, path: str) -> Errors:
    if ".." in target.split("/"):
        return [FieldError.invalid(path, target, "must not contain '..'")]
    return []


def local_descending_path(target: str, path: str) -> Errors:
    """A relative path that never steps up with `..` (validateLocalDescendingPath)."""
    errors: Errors = []
    if target.startswith("/"):
        errors.append(FieldError.invalid(path, target, "must be a relative path"))
    return errors + _no_backsteps(target, path)


def _local_non_reserved_path(target: str, path: str) -> Errors:
    errors = local_descending_path(target, path)
    if target.startswith("..") and not target.startswith("../"):
        errors.append(FieldError.invalid(path, target, "must not start with '..'"))
    return errors


def validate_object_field_selector(selector: JSON, expressions: tuple[str, ...], path: str) -> Errors:
    """A fieldRef: an apiVersion, and a fieldPath among `expressions` (validateObjectFieldSelector)."""
    version = as_str(selector.get("apiVersion"))
    if not version:
        return [FieldError.required(f"{path}.apiVersion")]
    field_path = as_str(selector.get("fieldPath"))
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
        return name_errors(is_qualified_name(key), path, key)
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


def validate_resource_field_selector(selector: JSON, path: str, in_volume: bool) -> Errors:
    """A resourceFieldRef: a known resource of a named container, a byte-size divisor."""
    errors: Errors = []
    resource = as_str(selector.get("resource"))
    if in_volume and not as_str(selector.get("containerName")):
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
    quantity = read_quantity(divisor, f"{path}.divisor", errors)
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
