"""The files of configMap, secret, downwardAPI and projected volumes (`MakePayload`, `CollectData`).

A projected `serviceAccountToken` source is the token the `PodHost` issues for the pod's service account, written
with the volume's defaultMode (the kubelet's 0600 for pods with fsUser/fsGroup goes with the ownership change
podrun does not make). `clusterTrustBundle` sources are skipped: podrun has no trust bundles.
"""

from __future__ import annotations

import base64
import posixpath
from collections.abc import Mapping
from typing import Any

from podrun.json_types import JSON
from podrun.kubelet.env import ContainerConfigError, Getter, container_resource_value, pod_field_value, secret_data
from podrun.kubelet.volumes.errors import PluginError, aggregate
from podrun.kubelet.volumes.spec import VolumeContext, dicts
from podrun.model.errors import go_quote

# One file of an atomic-writer volume: its path in the volume -> (content, mode).
Payload = dict[str, tuple[bytes, int]]
# The API server's default for a token projection without expirationSeconds (SetDefaults_ServiceAccountTokenProjection).
DEFAULT_EXPIRATION_SECONDS = 3600


def build_payload(kind: str, source: Mapping[str, Any], context: VolumeContext) -> Payload:
    """The files of a configMap, secret, downwardAPI or projected volume."""
    if source.get("defaultMode") is None:
        raise PluginError("no defaultMode used, not even the default value for it")
    default_mode = int(source["defaultMode"])
    items = dicts(source.get("items"))
    optional = bool(source.get("optional"))
    if kind == "configMap":
        configmap = _fetch(context.get_configmap, "configmap", source.get("name", ""), optional)
        return _configmap_payload(items, configmap, default_mode, optional)
    if kind == "secret":
        secret = _fetch(context.get_secret, "secret", source.get("secretName", ""), optional)
        return _secret_payload(items, secret, default_mode, optional)
    if kind == "downwardAPI":
        return _downward_api_payload(items, context, default_mode)
    return _projected_payload(source, context, default_mode)


def _fetch(getter: Getter, kind: str, name: str, optional: bool) -> JSON:
    """The object; an empty one if missing but optional (the volume is then empty); else NotFound."""
    obj = getter(name)
    if obj is None:
        if not optional:
            raise PluginError(f"{kind} {go_quote(name)} not found")
        return {}
    return obj


def _configmap_payload(items: list[JSON], configmap: Mapping[str, Any], default_mode: int, optional: bool) -> Payload:
    """configmap.MakePayload: every key (data and binaryData), or the listed items."""
    data = {key: str(value).encode() for key, value in (configmap.get("data") or {}).items()}
    binary = {key: base64.b64decode(value) for key, value in (configmap.get("binaryData") or {}).items()}
    if not items:
        return {key: (value, default_mode) for key, value in {**data, **binary}.items()}
    payload: Payload = {}
    for item in items:
        key = item.get("key", "")
        if key in data:
            content = data[key]
        elif key in binary:
            content = binary[key]
        elif optional:
            continue
        else:
            raise PluginError(f"configmap references non-existent config key: {key}")
        payload[item.get("path", "")] = (content, _item_mode(item, default_mode))
    return payload


def _secret_payload(items: list[JSON], secret: Mapping[str, Any], default_mode: int, optional: bool) -> Payload:
    """secret.MakePayload: every key, or the listed items."""
    data = secret_data(secret)
    if not items:
        return {key: (value, default_mode) for key, value in data.items()}
    payload: Payload = {}
    for item in items:
        key = item.get("key", "")
        if key not in data:
            if optional:
                continue
            raise PluginError(f"references non-existent secret key: {key}")
        payload[item.get("path", "")] = (data[key], _item_mode(item, default_mode))
    return payload


def _downward_api_payload(items: list[JSON], context: VolumeContext, default_mode: int) -> Payload:
    """downwardapi.CollectData: pod metadata fields and container resources; errors aggregated."""
    payload: Payload = {}
    errors: list[str] = []
    for item in items:
        content = b""
        try:
            if isinstance(item.get("fieldRef"), dict):
                content = pod_field_value(context.pod, item["fieldRef"].get("fieldPath", "")).encode()
            elif isinstance(item.get("resourceFieldRef"), dict):
                # No container of our own: the reference names one (validation requires containerName).
                ref = item["resourceFieldRef"]
                content = container_resource_value(ref, context.pod, {}, context.node_allocatable).encode()
        except ContainerConfigError as error:
            errors.append(error.message)
        payload[posixpath.normpath(item.get("path", ""))] = (content, _item_mode(item, default_mode))
    if errors:
        raise PluginError(aggregate(errors))
    return payload


def _projected_payload(source: Mapping[str, Any], context: VolumeContext, default_mode: int) -> Payload:
    """projected collectData: the sources merged in order (later paths win); errors aggregated."""
    payload: Payload = {}
    errors: list[str] = []
    for projection in dicts(source.get("sources")):
        try:
            if isinstance(projection.get("secret"), dict):
                ref = projection["secret"]
                optional = bool(ref.get("optional"))
                secret = _fetch(context.get_secret, "secret", ref.get("name", ""), optional)
                payload.update(_secret_payload(dicts(ref.get("items")), secret, default_mode, optional))
            elif isinstance(projection.get("configMap"), dict):
                ref = projection["configMap"]
                optional = bool(ref.get("optional"))
                configmap = _fetch(context.get_configmap, "configmap", ref.get("name", ""), optional)
                payload.update(_configmap_payload(dicts(ref.get("items")), configmap, default_mode, optional))
            elif isinstance(projection.get("downwardAPI"), dict):
                items = dicts(projection["downwardAPI"].get("items"))
                payload.update(_downward_api_payload(items, context, default_mode))
            elif isinstance(projection.get("serviceAccountToken"), dict):
                payload.update(_token_payload(projection["serviceAccountToken"], context, default_mode))
        except PluginError as error:
            errors.append(str(error))
    if errors:
        raise PluginError(aggregate(errors))
    return payload


def _token_payload(projection: Mapping[str, Any], context: VolumeContext, default_mode: int) -> Payload:
    """The projected plugin's serviceAccountToken case: a token bound to the pod, at its path."""
    audience = projection.get("audience") or None
    token = context.get_token(audience, int(projection.get("expirationSeconds") or DEFAULT_EXPIRATION_SECONDS))
    if token is None:
        spec, meta = context.pod.get("spec") or {}, context.pod.get("metadata") or {}
        account = f"{meta.get('namespace', 'default')}/{spec.get('serviceAccountName') or 'default'}"
        raise PluginError(f"failed to fetch token: no token issued for service account {account}")
    return {str(projection.get("path", "")): (token.encode(), default_mode)}


def _item_mode(item: Mapping[str, Any], default_mode: int) -> int:
    mode = item.get("mode")
    return default_mode if mode is None else int(mode)
