"""ConfigMap and Secret validation."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from podrun.json_types import JSON
from podrun.model.errors import FieldError
from podrun.model.validation.formats import is_config_map_key, name_is_dns_subdomain
from podrun.model.validation.meta import validate_object_meta
from podrun.model.validation.readers import as_dict, as_str, name_errors

MAX_SECRET_SIZE = 1024 * 1024


def validate_configmap(configmap: JSON) -> list[FieldError]:
    """ValidateConfigMap: metadata, key names, no key in both maps, at most 1 MiB of data."""
    errors = validate_object_meta(as_dict(configmap.get("metadata")), name_is_dns_subdomain)
    data = as_dict(configmap.get("data"))
    binary = as_dict(configmap.get("binaryData"))
    size = 0
    for key in sorted(data):
        errors += name_errors(is_config_map_key(key), f"data[{key}]", key)
        if key in binary:
            errors.append(FieldError.invalid(f"data[{key}]", key, "duplicate of key present in binaryData"))
        size += len(as_str(data[key]).encode())
    for key in sorted(binary):
        errors += name_errors(is_config_map_key(key), f"binaryData[{key}]", key)
        size += len(_decoded(binary[key]))
    if size > MAX_SECRET_SIZE:
        # Kubernetes names no field: the whole object is too large.
        errors.append(FieldError.too_long("", MAX_SECRET_SIZE))
    return errors


def validate_secret(secret: JSON) -> list[FieldError]:
    """ValidateSecret on a defaulted secret: metadata, key names, at most 1 MiB, the keys its type needs."""
    errors = validate_object_meta(as_dict(secret.get("metadata")), name_is_dns_subdomain)
    data = as_dict(secret.get("data"))
    size = 0
    for key in sorted(data):
        errors += name_errors(is_config_map_key(key), f"data[{key}]", key)
        size += len(_decoded(data[key]))
    if size > MAX_SECRET_SIZE:
        errors.append(FieldError.too_long("data", MAX_SECRET_SIZE))
    kind = as_str(secret.get("type"))
    if kind == "kubernetes.io/service-account-token":
        annotation = "kubernetes.io/service-account.name"
        if not as_str(as_dict(as_dict(secret.get("metadata")).get("annotations")).get(annotation)):
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
    text = as_str(value)
    try:
        return base64.b64decode(text.replace("\n", "").replace("\r", ""), validate=True)
    except (binascii.Error, ValueError):
        return text.encode()
