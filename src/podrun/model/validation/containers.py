"""Container validation: probes, lifecycle handlers, ports, env, volume mounts and devices."""

from __future__ import annotations

from typing import Any

from podrun.json_types import JSON
from podrun.model.errors import FieldError
from podrun.model.validation.formats import (
    HTTP_HEADER_NAME,
    HTTP_HEADER_NAME_FMT,
    NEGATIVE,
    is_config_map_key,
    is_dns1123_label,
    is_env_var_name,
    is_port_name,
    is_port_number,
    name_is_dns_subdomain,
    regex_error,
)
from podrun.model.validation.readers import Errors, as_dict, as_dicts, as_int, as_list, as_str, name_errors
from podrun.model.validation.resources import (
    validate_container_security,
    validate_resize_policy,
    validate_resource_requirements,
)
from podrun.model.validation.volumes import (
    ENV_FIELD_PATHS,
    local_descending_path,
    validate_object_field_selector,
    validate_resource_field_selector,
)

_PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")


_LIFECYCLE_HANDLERS = ("exec", "httpGet", "tcpSocket", "sleep")


_INIT_CONTAINER_ONLY = "may not be set for init containers without restartPolicy=Always"


def validate_containers(
    containers: list[JSON], volumes: dict[str, JSON], grace: int | None, restart_policy: str, host_users: bool
) -> Errors:
    """validateContainers: regular containers, with probes and lifecycle; no container restartPolicy."""
    if not containers:
        return [FieldError.required("spec.containers")]
    errors: Errors = []
    names: set[str] = set()
    for index, container in enumerate(containers):
        path = f"spec.containers[{index}]"
        errors += _validate_container_common(container, path, volumes, restart_policy, host_users)
        name = as_str(container.get("name"))
        if name in names:
            errors.append(FieldError.duplicate(f"{path}.name", name))
        names.add(name)
        errors += _validate_probes_and_lifecycle(container, path, grace)
        if container.get("restartPolicy") is not None:
            errors.append(FieldError.forbidden(f"{path}.restartPolicy", "may not be set for non-init containers"))
    return errors + _host_port_conflicts(containers, "spec.containers")


def validate_init_containers(
    containers: list[JSON],
    regular: list[JSON],
    volumes: dict[str, JSON],
    grace: int | None,
    restart_policy: str,
    host_users: bool,
) -> Errors:
    """validateInitContainers: names unique across all containers; probes only on sidecars."""
    errors: Errors = []
    names = {as_str(container.get("name")) for container in regular}
    for index, container in enumerate(containers):
        path = f"spec.initContainers[{index}]"
        errors += _validate_container_common(container, path, volumes, restart_policy, host_users)
        policy = container.get("restartPolicy")
        if policy is not None and policy != "Always":
            errors.append(FieldError.not_supported(f"{path}.restartPolicy", policy, ["Always"]))
        name = as_str(container.get("name"))
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


def _validate_probes_and_lifecycle(container: JSON, path: str, grace: int | None) -> Errors:
    errors: Errors = []
    if container.get("lifecycle") is not None:
        lifecycle = as_dict(container["lifecycle"])
        for hook in ("postStart", "preStop"):
            if lifecycle.get(hook) is not None:
                errors += _validate_handler(
                    as_dict(lifecycle[hook]), _LIFECYCLE_HANDLERS, f"{path}.lifecycle.{hook}", grace
                )
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        if container.get(key) is None:
            continue
        probe = as_dict(container[key])
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
        elif (as_int(probe.get("successThreshold")) or 0) != 1:
            errors.append(
                FieldError.invalid(
                    f"{probe_path}.successThreshold", as_int(probe.get("successThreshold")) or 0, "must be 1"
                )
            )
    return errors


def _validate_probe(probe: JSON, path: str, grace: int | None) -> Errors:
    errors = _validate_handler(probe, _PROBE_HANDLERS, path, grace)
    for key in (
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ):
        value = as_int(probe.get(key)) or 0
        if value < 0:
            errors.append(FieldError.invalid(f"{path}.{key}", value, NEGATIVE))
    grace_override = probe.get("terminationGracePeriodSeconds")
    if grace_override is not None and (as_int(grace_override) or 0) <= 0:
        errors.append(
            FieldError.invalid(
                f"{path}.terminationGracePeriodSeconds", as_int(grace_override) or 0, "must be greater than 0"
            )
        )
    return errors


def _validate_handler(handler: JSON, kinds: tuple[str, ...], path: str, grace: int | None) -> Errors:
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
        action = as_dict(handler[kind])
        action_path = f"{path}.{kind}"
        if kind == "exec" and not as_list(action.get("command")):
            errors.append(FieldError.required(f"{action_path}.command"))
        elif kind == "httpGet":
            errors += _validate_http_get(action, action_path)
        elif kind == "tcpSocket":
            errors += _port_number_or_name(action.get("port"), f"{action_path}.port")
        elif kind == "grpc":
            errors += _port_number_or_name(as_int(action.get("port")) or 0, f"{action_path}.port")
        elif kind == "sleep" and grace is not None:
            seconds = as_int(action.get("seconds")) or 0
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


def _validate_http_get(action: JSON, path: str) -> Errors:
    errors: Errors = []
    if not as_str(action.get("path")):
        errors.append(FieldError.required(f"{path}.path"))
    errors += _port_number_or_name(action.get("port"), f"{path}.port")
    scheme = as_str(action.get("scheme"))
    if scheme not in ("HTTP", "HTTPS"):
        errors.append(FieldError.not_supported(f"{path}.scheme", scheme, ["HTTP", "HTTPS"]))
    for header in as_dicts(action.get("httpHeaders")):
        name = as_str(header.get("name"))
        if not HTTP_HEADER_NAME.fullmatch(name):
            errors.append(
                FieldError.invalid(
                    f"{path}.httpHeaders",
                    name,
                    regex_error(
                        "a valid HTTP header must consist of alphanumeric characters or '-'",
                        HTTP_HEADER_NAME_FMT,
                        "X-Header-Name",
                    ),
                )
            )
    return errors


def _port_number_or_name(port: Any, path: str) -> Errors:
    """An IntOrString port: a number in range, or a valid port name (a quoted "8080" is a name)."""
    if isinstance(port, str):
        return name_errors(is_port_name(port), path, port)
    number = as_int(port) or 0
    return [FieldError.invalid(path, number, message) for message in is_port_number(number)]


def _validate_container_common(
    container: JSON, path: str, volumes: dict[str, JSON], restart_policy: str, host_users: bool
) -> Errors:
    """validateContainerCommon: name, image, ports, env, mounts, pull policy, resources, security."""
    errors: Errors = []
    name = as_str(container.get("name"))
    if not name:
        errors.append(FieldError.required(f"{path}.name"))
    else:
        errors += name_errors(is_dns1123_label(name), f"{path}.name", name)
    if not as_str(container.get("image")):
        errors.append(FieldError.required(f"{path}.image"))
    errors += enum_errors(
        container.get("terminationMessagePolicy"),
        f"{path}.terminationMessagePolicy",
        ["File", "FallbackToLogsOnError"],
    )
    mounts = as_dicts(container.get("volumeMounts"))
    devices = as_dicts(container.get("volumeDevices"))
    errors += _validate_ports(as_dicts(container.get("ports")), f"{path}.ports")
    errors += _validate_env(as_dicts(container.get("env")), f"{path}.env")
    errors += _validate_env_from(as_dicts(container.get("envFrom")), f"{path}.envFrom")
    errors += _validate_volume_mounts(mounts, devices, volumes, container, f"{path}.volumeMounts")
    errors += _validate_volume_devices(devices, mounts, volumes, f"{path}.volumeDevices")
    errors += enum_errors(
        container.get("imagePullPolicy"), f"{path}.imagePullPolicy", ["Always", "IfNotPresent", "Never"]
    )
    errors += validate_resource_requirements(as_dict(container.get("resources")), f"{path}.resources")
    errors += validate_resize_policy(as_dicts(container.get("resizePolicy")), f"{path}.resizePolicy", restart_policy)
    errors += validate_container_security(container.get("securityContext"), f"{path}.securityContext", host_users)
    return errors


def enum_errors(value: Any, path: str, supported: list[str]) -> Errors:
    """A required enumeration: empty is Required, anything else unknown is NotSupported."""
    text = value if isinstance(value, str) else ""
    if not text:
        return [FieldError.required(path)]
    if text not in supported:
        return [FieldError.not_supported(path, text, supported)]
    return []


def _validate_ports(ports: list[JSON], path: str) -> Errors:
    errors: Errors = []
    names: set[str] = set()
    for index, port in enumerate(ports):
        port_path = f"{path}[{index}]"
        name = as_str(port.get("name"))
        if name:
            messages = is_port_name(name)
            if messages:
                errors += name_errors(messages, f"{port_path}.name", name)
            elif name in names:
                errors.append(FieldError.duplicate(f"{port_path}.name", name))
            else:
                names.add(name)
        container_port = as_int(port.get("containerPort")) or 0
        if not container_port:
            errors.append(FieldError.required(f"{port_path}.containerPort"))
        else:
            errors += [
                FieldError.invalid(f"{port_path}.containerPort", container_port, message)
                for message in is_port_number(container_port)
            ]
        host_port = as_int(port.get("hostPort")) or 0
        if host_port:
            errors += [
                FieldError.invalid(f"{port_path}.hostPort", host_port, message) for message in is_port_number(host_port)
            ]
        protocol = as_str(port.get("protocol"))
        if not protocol:
            errors.append(FieldError.required(f"{port_path}.protocol"))
        elif protocol not in ("SCTP", "TCP", "UDP"):
            errors.append(FieldError.not_supported(f"{port_path}.protocol", protocol, ["SCTP", "TCP", "UDP"]))
    return errors


def _host_port_conflicts(containers: list[JSON], path: str) -> Errors:
    """AccumulateUniqueHostPorts: one protocol/hostIP/hostPort per pod (per init container)."""
    errors: Errors = []
    seen: set[str] = set()
    for index, container in enumerate(containers):
        for port_index, port in enumerate(as_dicts(container.get("ports"))):
            host_port = as_int(port.get("hostPort")) or 0
            if not host_port:
                continue
            key = f"{as_str(port.get('protocol'))}/{as_str(port.get('hostIP'))}/{host_port}"
            if key in seen:
                errors.append(FieldError.duplicate(f"{path}[{index}].ports[{port_index}].hostPort", key))
            seen.add(key)
    return errors


def _validate_env(variables: list[JSON], path: str) -> Errors:
    errors: Errors = []
    for index, variable in enumerate(variables):
        variable_path = f"{path}[{index}]"
        name = as_str(variable.get("name"))
        if not name:
            errors.append(FieldError.required(f"{variable_path}.name"))
        else:
            errors += name_errors(is_env_var_name(name), f"{variable_path}.name", name)
        if variable.get("valueFrom") is not None:
            errors += _validate_env_source(as_dict(variable["valueFrom"]), as_str(variable.get("value")), variable_path)
    return errors


def _validate_env_source(source: JSON, value: str, variable_path: str) -> Errors:
    path = f"{variable_path}.valueFrom"
    errors: Errors = []
    count = 0
    if source.get("fieldRef") is not None:
        count += 1
        errors += validate_object_field_selector(as_dict(source["fieldRef"]), ENV_FIELD_PATHS, f"{path}.fieldRef")
    if source.get("resourceFieldRef") is not None:
        count += 1
        errors += validate_resource_field_selector(
            as_dict(source["resourceFieldRef"]), f"{path}.resourceFieldRef", False
        )
    for kind in ("configMapKeyRef", "secretKeyRef"):
        if source.get(kind) is not None:
            count += 1
            errors += _validate_key_selector(as_dict(source[kind]), f"{path}.{kind}")
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


def _validate_key_selector(selector: JSON, path: str) -> Errors:
    name = as_str(selector.get("name"))
    errors = name_errors(name_is_dns_subdomain(name), f"{path}.name", name)
    key = as_str(selector.get("key"))
    if not key:
        errors.append(FieldError.required(f"{path}.key"))
    else:
        errors += name_errors(is_config_map_key(key), f"{path}.key", key)
    return errors


def _validate_env_from(sources: list[JSON], path: str) -> Errors:
    errors: Errors = []
    for index, source in enumerate(sources):
        source_path = f"{path}[{index}]"
        prefix = as_str(source.get("prefix"))
        if prefix:
            errors += name_errors(is_env_var_name(prefix), f"{source_path}.prefix", prefix)
        count = 0
        for kind in ("configMapRef", "secretRef"):
            if source.get(kind) is None:
                continue
            count += 1
            name = as_str(as_dict(source[kind]).get("name"))
            if not name:
                errors.append(FieldError.required(f"{source_path}.{kind}.name"))
            else:
                # Kubernetes checks these names as generateName prefixes, so a trailing '-' passes.
                errors += name_errors(name_is_dns_subdomain(name, True), f"{source_path}.{kind}.name", name)
        # These two errors name the envFrom list, not the entry.
        if not count:
            errors.append(FieldError.invalid(path, "", "must specify one of: `configMapRef` or `secretRef`"))
        elif count > 1:
            errors.append(FieldError.invalid(path, "", "may not have more than one field specified at a time"))
    return errors


def _validate_volume_mounts(
    mounts: list[JSON], devices: list[JSON], volumes: dict[str, JSON], container: JSON, path: str
) -> Errors:
    errors: Errors = []
    mount_points: set[str] = set()
    device_names = {as_str(device.get("name")) for device in devices}
    device_paths = {as_str(device.get("devicePath")) for device in devices}
    for index, mount in enumerate(mounts):
        mount_path = f"{path}[{index}]"
        name = as_str(mount.get("name"))
        target = as_str(mount.get("mountPath"))
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
        sub_path = as_str(mount.get("subPath"))
        sub_path_expr = as_str(mount.get("subPathExpr"))
        if as_dict(volumes.get(name)).get("image") is not None:
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
            errors += local_descending_path(sub_path, f"{path}.subPath")
        if sub_path_expr:
            if sub_path:
                errors.append(
                    FieldError.invalid(
                        f"{mount_path}.subPathExpr",
                        sub_path_expr,
                        "subPathExpr and subPath are mutually exclusive",
                    )
                )
            errors += local_descending_path(sub_path_expr, f"{path}.subPathExpr")
        errors += _validate_mount_propagation(mount, container, f"{path}.mountPropagation")
        errors += _validate_recursive_read_only(mount, f"{path}.recursiveReadOnly")
    return errors


def _validate_mount_propagation(mount: JSON, container: JSON, path: str) -> Errors:
    propagation = mount.get("mountPropagation")
    if propagation is None:
        return []
    errors: Errors = []
    supported = ["Bidirectional", "HostToContainer", "None"]
    if propagation not in supported:
        errors.append(FieldError.not_supported(path, propagation, supported))
    privileged = as_dict(container.get("securityContext")).get("privileged") is True
    if propagation == "Bidirectional" and not privileged:
        errors.append(
            FieldError.forbidden(path, "Bidirectional mount propagation is available only to privileged containers")
        )
    return errors


def _validate_recursive_read_only(mount: JSON, path: str) -> Errors:
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


def _validate_volume_devices(devices: list[JSON], mounts: list[JSON], volumes: dict[str, JSON], path: str) -> Errors:
    errors: Errors = []
    mount_names = {as_str(mount.get("name")) for mount in mounts}
    mount_paths = {as_str(mount.get("mountPath")) for mount in mounts}
    names: set[str] = set()
    paths: set[str] = set()
    for index, device in enumerate(devices):
        device_path = f"{path}[{index}]"
        name = as_str(device.get("name"))
        target = as_str(device.get("devicePath"))
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


# EphemeralContainerCommon's fields that may not be set, in the struct's order (`allowedEphemeralContainerFields`
# lists them false or leaves them out): an ephemeral container serves no traffic and reserves nothing.
_EPHEMERAL_FORBIDDEN_FIELDS = (
    "ports",
    "resources",
    "resizePolicy",
    "restartPolicy",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
)
_EPHEMERAL_FORBIDDEN = "cannot be set for an Ephemeral Container"


def validate_ephemeral_containers(
    ephemeral: list[JSON],
    containers: list[JSON],
    init_containers: list[JSON],
    volumes: dict[str, JSON],
    restart_policy: str,
    host_users: bool,
) -> Errors:
    """validateEphemeralContainers: names unique across every kind of container, a target that is an init or
    regular container, and none of the fields that would make the pod depend on the container."""
    errors: Errors = []
    others = {as_str(container.get("name")) for container in [*containers, *init_containers]}
    names = set(others)
    for index, container in enumerate(ephemeral):
        path = f"spec.ephemeralContainers[{index}]"
        errors += _validate_container_common(container, path, volumes, restart_policy, host_users)
        image = as_str(container.get("image"))
        if image != image.strip():
            errors.append(FieldError.invalid(f"{path}.image", image, "must not have leading or trailing whitespace"))
        name = as_str(container.get("name"))
        if name in names:
            errors.append(FieldError.duplicate(f"{path}.name", name))
        else:
            names.add(name)
        target = as_str(container.get("targetContainerName"))
        if target and target not in others:
            errors.append(FieldError.not_found(f"{path}.targetContainerName", target))
        errors += [
            FieldError.forbidden(f"{path}.{key}", _EPHEMERAL_FORBIDDEN)
            for key in _EPHEMERAL_FORBIDDEN_FIELDS
            if _is_set(container.get(key), struct=key == "resources")
        ]
        for mount_index, mount in enumerate(as_dicts(container.get("volumeMounts"))):
            for key in ("subPath", "subPathExpr"):
                if as_str(mount.get(key)):
                    errors.append(
                        FieldError.forbidden(f"{path}.volumeMounts[{mount_index}].{key}", _EPHEMERAL_FORBIDDEN)
                    )
    return errors


def _is_set(value: Any, *, struct: bool) -> bool:
    """Whether a field differs from Go's zero value: null for pointers, slices and maps; for a struct (resources)
    also an object whose fields are all null, such as the `resources: {}` kubectl debug sends."""
    if struct and isinstance(value, dict):
        return any(item is not None for item in value.values())
    return value is not None
