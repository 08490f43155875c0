"""Pod spec validation (restart policy, DNS, tolerations, host aliases...) and `validate_pod`."""

from __future__ import annotations

from podrun.json_types import JSON
from podrun.model.errors import FieldError
from podrun.model.validation.containers import (
    enum_errors,
    validate_containers,
    validate_ephemeral_containers,
    validate_init_containers,
)
from podrun.model.validation.formats import (
    DNS_SUBDOMAIN_UNDERSCORE,
    INVALID_IP,
    MAX_INT32,
    SUBDOMAIN_UNDERSCORE_ERROR,
    SUBDOMAIN_UNDERSCORE_FMT,
    inclusive_range_error,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_ip,
    is_label_value,
    is_qualified_name,
    max_len_error,
    name_is_dns_subdomain,
    regex_error,
)
from podrun.model.validation.meta import validate_labels, validate_object_meta, validate_pod_annotations
from podrun.model.validation.readers import Errors, as_dict, as_dicts, as_int, as_list, as_str, name_errors
from podrun.model.validation.resources import validate_pod_security, validate_resource_requirements
from podrun.model.validation.volumes import validate_volumes


def _validate_pod_spec(spec: JSON) -> Errors:
    """ValidatePodSpec, in Kubernetes' order."""
    errors: Errors = []
    if spec.get("terminationGracePeriodSeconds") is None:
        errors.append(FieldError.required("spec.terminationGracePeriodSeconds"))
    grace = as_int(spec.get("terminationGracePeriodSeconds"))
    host_users = as_dict(spec.get("securityContext")).get("hostUsers") is not False
    restart_policy = as_str(spec.get("restartPolicy"))
    volumes, volume_errors = validate_volumes(as_dicts(spec.get("volumes")))
    errors += volume_errors
    containers = as_dicts(spec.get("containers"))
    errors += validate_containers(containers, volumes, grace, restart_policy, host_users)
    init_containers = as_dicts(spec.get("initContainers"))
    errors += validate_init_containers(init_containers, containers, volumes, grace, restart_policy, host_users)
    errors += validate_ephemeral_containers(
        as_dicts(spec.get("ephemeralContainers")), containers, init_containers, volumes, restart_policy, host_users
    )
    if spec.get("hostNetwork") is True:
        errors += _host_network_ports(containers)
    errors += enum_errors(spec.get("restartPolicy"), "spec.restartPolicy", ["Always", "OnFailure", "Never"])
    errors += enum_errors(
        spec.get("dnsPolicy"),
        "spec.dnsPolicy",
        ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
    )
    errors += validate_labels(as_dict(spec.get("nodeSelector")), "spec.nodeSelector")
    errors += validate_pod_security(spec)
    errors += _validate_dns_config(spec)
    for index, gate in enumerate(as_dicts(spec.get("readinessGates"))):
        condition = as_str(gate.get("conditionType"))
        errors += name_errors(is_qualified_name(condition), f"spec.readinessGates[{index}].conditionType", condition)
    errors += _validate_scheduling_gates(as_dicts(spec.get("schedulingGates")))
    if as_dict(spec.get("securityContext")).get("hostUsers") is False:
        for key, path in (("hostNetwork", "hostNetwork"), ("hostPID", "HostPID"), ("hostIPC", "HostIPC")):
            if spec.get(key) is True:
                errors.append(FieldError.forbidden(f"spec.{path}", "when `pod.Spec.HostUsers` is false"))
    for key in ("serviceAccountName", "nodeName"):
        value = as_str(spec.get(key))
        if value:
            errors += name_errors(name_is_dns_subdomain(value), f"spec.{key}", value)
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None:
        seconds = as_int(deadline)
        if seconds is None or not 1 <= seconds <= MAX_INT32:
            errors.append(
                FieldError.invalid("spec.activeDeadlineSeconds", deadline, inclusive_range_error(1, MAX_INT32))
            )
    for key in ("hostname", "subdomain"):
        value = as_str(spec.get(key))
        if value:
            errors += name_errors(is_dns1123_label(value), f"spec.{key}", value)
    errors += validate_tolerations(as_dicts(spec.get("tolerations")), "spec.tolerations")
    errors += _validate_host_aliases(as_dicts(spec.get("hostAliases")))
    for key in ("priorityClassName", "runtimeClassName"):
        value = as_str(spec.get(key))
        if value or (key == "runtimeClassName" and spec.get(key) is not None):
            errors += name_errors(name_is_dns_subdomain(value), f"spec.{key}", value)
    if spec.get("preemptionPolicy") is not None:
        errors += enum_errors(spec["preemptionPolicy"], "spec.preemptionPolicy", ["PreemptLowerPriority", "Never"])
    if spec.get("overhead") is not None:
        errors += validate_resource_requirements({"limits": spec["overhead"]}, "spec.overhead")
    if spec.get("os") is not None:
        os_name = as_str(as_dict(spec["os"]).get("name"))
        if not os_name:
            errors.append(FieldError.required("spec.os.name"))
        elif os_name not in ("linux", "windows"):
            errors.append(FieldError.not_supported("spec.os.name", os_name, ["linux", "windows"]))
    return errors


def _host_network_ports(containers: list[JSON]) -> Errors:
    errors: Errors = []
    for index, container in enumerate(containers):
        for port_index, port in enumerate(as_dicts(container.get("ports"))):
            host_port = as_int(port.get("hostPort")) or 0
            if host_port != (as_int(port.get("containerPort")) or 0):
                errors.append(
                    FieldError.invalid(
                        f"spec.containers[{index}].ports[{port_index}].hostPort",
                        host_port,
                        "must match `containerPort` when `hostNetwork` is true",
                    )
                )
    return errors


def _validate_dns_config(spec: JSON) -> Errors:
    path = "spec.dnsConfig"
    config = spec.get("dnsConfig")
    if spec.get("dnsPolicy") == "None":
        if config is None:
            return [FieldError.required(path, "must provide `dnsConfig` when `dnsPolicy` is None")]
        if not as_list(as_dict(config).get("nameservers")):
            return [
                FieldError.required(
                    f"{path}.nameservers", "must provide at least one DNS nameserver when `dnsPolicy` is None"
                )
            ]
    if config is None:
        return []
    config = as_dict(config)
    errors: Errors = []
    nameservers = [as_str(item) for item in as_list(config.get("nameservers"))]
    if len(nameservers) > 3:
        errors.append(FieldError.invalid(f"{path}.nameservers", nameservers, "must not have more than 3 nameservers"))
    for index, server in enumerate(nameservers):
        if not is_ip(server):
            errors.append(FieldError.invalid(f"{path}.nameservers[{index}]", server, INVALID_IP))
    searches = [as_str(item) for item in as_list(config.get("searches"))]
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
        if not DNS_SUBDOMAIN_UNDERSCORE.fullmatch(search):
            messages.append(regex_error(SUBDOMAIN_UNDERSCORE_ERROR, SUBDOMAIN_UNDERSCORE_FMT, "example.com"))
        errors += name_errors(messages, f"{path}.searches[{index}]", search)
    for index, option in enumerate(as_dicts(config.get("options"))):
        if not as_str(option.get("name")):
            errors.append(FieldError.required(f"{path}.options[{index}]", "must not be empty"))
    return errors


def _validate_scheduling_gates(gates: list[JSON]) -> Errors:
    errors: Errors = []
    seen: set[str] = set()
    for index, gate in enumerate(gates):
        name = as_str(gate.get("name"))
        errors += name_errors(is_qualified_name(name), f"spec.schedulingGates[{index}]", name)
        if name in seen:
            errors.append(FieldError.duplicate(f"spec.schedulingGates[{index}]", name))
        seen.add(name)
    return errors


def validate_tolerations(tolerations: list[JSON], path: str) -> Errors:
    """ValidateTolerations: key, operator/value agreement, and NoExecute for tolerationSeconds."""
    errors: Errors = []
    for index, toleration in enumerate(tolerations):
        item = f"{path}[{index}]"
        key = as_str(toleration.get("key"))
        operator = as_str(toleration.get("operator"))
        value = as_str(toleration.get("value"))
        effect = as_str(toleration.get("effect"))
        if key:
            errors += name_errors(is_qualified_name(key), f"{item}.key", key)
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


def _validate_host_aliases(aliases: list[JSON]) -> Errors:
    errors: Errors = []
    for index, alias in enumerate(aliases):
        address = as_str(alias.get("ip"))
        if not is_ip(address):
            errors.append(FieldError.invalid(f"spec.hostAliases[{index}].ip", address, INVALID_IP))
        for host_index, hostname in enumerate(as_list(alias.get("hostnames"))):
            name = as_str(hostname)
            errors += name_errors(
                is_dns1123_subdomain(name), f"spec.hostAliases[{index}].hostnames[{host_index}]", name
            )
    return errors


def validate_pod(pod: JSON) -> list[FieldError]:
    """ValidatePodCreate for a defaulted v1 pod: every error, in the order Kubernetes reports them."""
    errors = validate_pod_metadata_and_spec(pod)
    spec = as_dict(pod.get("spec"))
    if as_list(spec.get("ephemeralContainers")):
        errors.append(FieldError.forbidden("spec.ephemeralContainers", "cannot be set on create"))
    if as_str(spec.get("nodeName")) and as_list(spec.get("schedulingGates")):
        errors.append(
            FieldError.forbidden("spec.nodeName", "cannot be set until all schedulingGates have been cleared")
        )
    return errors


def validate_pod_metadata_and_spec(pod: JSON) -> Errors:
    """What ValidatePodCreate and ValidatePodUpdate share: metadata, pod annotations and the spec."""
    meta = as_dict(pod.get("metadata"))
    spec = as_dict(pod.get("spec"))
    errors = validate_object_meta(meta, name_is_dns_subdomain)
    errors += validate_pod_annotations(meta, spec)
    errors += _validate_pod_spec(spec)
    if not as_str(spec.get("serviceAccountName")):
        for index, volume in enumerate(as_dicts(spec.get("volumes"))):
            for source_index, projection in enumerate(as_dicts(as_dict(volume.get("projected")).get("sources"))):
                if projection.get("serviceAccountToken") is not None:
                    errors.append(
                        FieldError.forbidden(
                            f"spec.volumes[{index}].projected.sources[{source_index}].serviceAccountToken",
                            "must not be specified when serviceAccountName is not set",
                        )
                    )
    for key in ("containers", "initContainers"):
        for index, container in enumerate(as_dicts(spec.get(key))):
            image = as_str(container.get("image"))
            if image != image.strip():
                errors.append(
                    FieldError.invalid(
                        f"spec.{key}[{index}].image", image, "must not have leading or trailing whitespace"
                    )
                )
    return errors
