"""Validation with the API server's exact wording: field errors, pods (create and update), ConfigMaps,
Secrets and pod warnings."""

import copy
from typing import Any

import pytest

from podrun.model.defaults import default_configmap, default_pod, default_secret
from podrun.model.errors import FieldError, InvalidError, format_value
from podrun.model.quantity import parse_quantity
from podrun.model.validation import (
    pod_warnings,
    validate_configmap,
    validate_pod,
    validate_pod_update,
    validate_secret,
)

SUBDOMAIN_RULE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_RULE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
UPDATE_RULE = (
    "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to "
    "existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously "
    "negative)"
)


def pod(**spec: Any) -> dict[str, Any]:
    """A valid pod, with spec fields replaced by the keyword arguments."""
    body: dict[str, Any] = {"containers": [{"name": "app", "image": "nginx:1.27"}], **spec}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}, "spec": body}


def with_container(**fields: Any) -> dict[str, Any]:
    return pod(containers=[{"name": "app", "image": "nginx:1.27", **fields}])


def errors(body: dict[str, Any]) -> list[str]:
    return [str(error) for error in validate_pod(default_pod(body))]


# --- field errors and the Invalid status ------------------------------------------------------------------


def test_required_error_text() -> None:
    assert str(FieldError.required("spec.containers[0].image")) == "spec.containers[0].image: Required value"


def test_required_error_with_detail() -> None:
    error = FieldError.required("metadata.name", "name or generateName is required")
    assert str(error) == "metadata.name: Required value: name or generateName is required"


def test_invalid_error_quotes_a_string_value() -> None:
    error = FieldError.invalid("spec.hostname", "a b", "bad")
    assert str(error) == 'spec.hostname: Invalid value: "a b": bad'


def test_invalid_error_prints_a_number_bare() -> None:
    error = FieldError.invalid("spec.activeDeadlineSeconds", 0, "must be between 1 and 2147483647, inclusive")
    assert str(error) == "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive"


def test_not_supported_error_lists_the_supported_values() -> None:
    error = FieldError.not_supported("spec.restartPolicy", "Sometimes", ["Always", "OnFailure", "Never"])
    assert str(error) == (
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'
    )


def test_duplicate_error_text() -> None:
    assert str(FieldError.duplicate("spec.volumes[1].name", "data")) == 'spec.volumes[1].name: Duplicate value: "data"'


def test_forbidden_error_hides_the_value() -> None:
    assert str(FieldError.forbidden("spec", "nope")) == "spec: Forbidden: nope"


def test_not_found_error_text() -> None:
    error = FieldError.not_found("spec.containers[0].volumeMounts[0].name", "x")
    assert str(error) == 'spec.containers[0].volumeMounts[0].name: Not found: "x"'


def test_too_long_error_text() -> None:
    assert str(FieldError.too_long("data", 1048576)) == "data: Too long: may not be more than 1048576 bytes"


def test_too_many_error_text() -> None:
    assert str(FieldError.too_many("spec.items", 5, 3)) == "spec.items: Too many: 5: must have at most 3 items"


def test_type_invalid_error_reads_as_invalid_value() -> None:
    error = FieldError.type_invalid("spec.replicas", "three", "must be of type integer")
    assert str(error) == 'spec.replicas: Invalid value: "three": must be of type integer'


def test_null_value_prints_as_quoted_null() -> None:
    assert format_value(None) == '"null"'


def test_boolean_value_prints_bare() -> None:
    assert format_value(True) == "true"


def test_quantity_value_prints_unquoted() -> None:
    assert format_value(parse_quantity("1500m")) == "1500m"


def test_string_value_is_quoted_like_go() -> None:
    assert format_value('a"b\n') == '"a\\"b\\n"'


def test_invalid_error_message_for_one_error_has_no_brackets() -> None:
    error = InvalidError("Pod", "web", [FieldError.required("spec.containers[0].image")])
    assert str(error) == 'Pod "web" is invalid: spec.containers[0].image: Required value'


def test_invalid_error_message_for_several_errors_is_bracketed() -> None:
    error = InvalidError("Pod", "web", [FieldError.required("a"), FieldError.required("b")])
    assert str(error) == 'Pod "web" is invalid: [a: Required value, b: Required value]'


def test_invalid_error_message_drops_repeated_errors() -> None:
    error = InvalidError("Pod", "web", [FieldError.required("a"), FieldError.required("a")])
    assert str(error) == 'Pod "web" is invalid: a: Required value'


def test_invalid_error_renders_the_422_status() -> None:
    error = InvalidError("Pod", "web", [FieldError.required("spec.containers[0].image")])
    assert error.status() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'Pod "web" is invalid: spec.containers[0].image: Required value',
        "reason": "Invalid",
        "details": {
            "name": "web",
            "kind": "Pod",
            "causes": [
                {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers[0].image"}
            ],
        },
        "code": 422,
    }


def test_status_cause_without_a_field_omits_it() -> None:
    status = InvalidError("ConfigMap", "big", [FieldError.too_long("", 1048576)]).status()
    assert status["details"]["causes"] == [
        {"reason": "FieldValueTooLong", "message": "Too long: may not be more than 1048576 bytes"}
    ]


def test_status_names_a_non_core_group() -> None:
    status = InvalidError("Deployment", "d", [FieldError.required("spec")], group="apps").status()
    assert (status["message"], status["details"]["group"]) == (
        'Deployment.apps "d" is invalid: spec: Required value',
        "apps",
    )


# --- pod metadata -----------------------------------------------------------------------------------------


def test_valid_pod_has_no_errors() -> None:
    assert errors(pod()) == []


def test_missing_name_is_required() -> None:
    body = pod()
    del body["metadata"]["name"]
    assert errors(body) == ["metadata.name: Required value: name or generateName is required"]


def test_name_must_be_a_dns_subdomain() -> None:
    body = pod()
    body["metadata"]["name"] = "Bad_Name"
    assert errors(body) == [f'metadata.name: Invalid value: "Bad_Name": {SUBDOMAIN_RULE}']


def test_generate_name_may_end_with_a_dash_but_must_be_a_subdomain_prefix() -> None:
    body = pod()
    body["metadata"]["generateName"] = "Web-"
    assert errors(body) == [f'metadata.generateName: Invalid value: "Web-": {SUBDOMAIN_RULE}']


def test_label_key_must_be_a_qualified_name() -> None:
    body = pod()
    body["metadata"]["labels"] = {"-app": "web"}
    assert errors(body) == [
        "metadata.labels: Invalid value: \"-app\": name part must consist of alphanumeric characters, '-', '_' "
        "or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
        "'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
    ]


def test_label_value_must_be_a_valid_label_value() -> None:
    body = pod()
    body["metadata"]["labels"] = {"app": "web server"}
    assert errors(body) == [
        'metadata.labels: Invalid value: "web server": a valid label must be an empty string or consist of '
        "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character "
        "(e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
        "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
    ]


def test_annotation_key_prefix_must_be_a_subdomain() -> None:
    body = pod()
    body["metadata"]["annotations"] = {"bad_prefix/key": "x"}
    assert errors(body) == [f'metadata.annotations: Invalid value: "bad_prefix/key": prefix part {SUBDOMAIN_RULE}']


def test_deletion_cost_annotation_must_be_an_int32() -> None:
    body = pod()
    body["metadata"]["annotations"] = {"controller.kubernetes.io/pod-deletion-cost": "+5"}
    assert errors(body) == [
        'metadata.annotations[controller.kubernetes.io/pod-deletion-cost]: Invalid value: "+5": must be a 32bit integer'
    ]


# --- containers -------------------------------------------------------------------------------------------


def test_pod_needs_a_container() -> None:
    assert errors(pod(containers=[])) == ["spec.containers: Required value"]


def test_container_name_must_be_a_dns_label() -> None:
    assert errors(pod(containers=[{"name": "my.app", "image": "nginx"}])) == [
        'spec.containers[0].name: Invalid value: "my.app": must not contain dots'
    ]


def test_container_name_rule_is_spelled_out() -> None:
    assert errors(pod(containers=[{"name": "App", "image": "nginx"}])) == [
        f'spec.containers[0].name: Invalid value: "App": {LABEL_RULE}'
    ]


def test_container_names_must_be_unique() -> None:
    containers = [{"name": "app", "image": "nginx"}, {"name": "app", "image": "nginx"}]
    assert errors(pod(containers=containers)) == ['spec.containers[1].name: Duplicate value: "app"']


def test_init_container_name_must_differ_from_regular_ones() -> None:
    assert errors(pod(initContainers=[{"name": "app", "image": "busybox"}])) == [
        'spec.initContainers[0].name: Duplicate value: "app"'
    ]


def test_image_is_required() -> None:
    assert errors(pod(containers=[{"name": "app"}])) == ["spec.containers[0].image: Required value"]


def test_image_may_not_have_surrounding_spaces() -> None:
    assert errors(with_container(image=" nginx")) == [
        'spec.containers[0].image: Invalid value: " nginx": must not have leading or trailing whitespace'
    ]


def test_restart_policy_must_be_known() -> None:
    assert errors(pod(restartPolicy="Sometimes")) == [
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'
    ]


def test_regular_container_may_not_set_a_restart_policy() -> None:
    assert errors(with_container(restartPolicy="Always")) == [
        "spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers"
    ]


def test_init_container_restart_policy_may_only_be_always() -> None:
    init = [{"name": "setup", "image": "busybox", "restartPolicy": "OnFailure"}]
    assert errors(pod(initContainers=init)) == [
        'spec.initContainers[0].restartPolicy: Unsupported value: "OnFailure": supported values: "Always"'
    ]


def test_sidecar_init_container_may_have_probes() -> None:
    probe = {"exec": {"command": ["true"]}}
    init = [{"name": "proxy", "image": "envoy", "restartPolicy": "Always", "startupProbe": probe}]
    assert errors(pod(initContainers=init)) == []


def test_regular_init_container_may_not_have_probes() -> None:
    init = [{"name": "setup", "image": "busybox", "livenessProbe": {"exec": {"command": ["true"]}}}]
    assert errors(pod(initContainers=init)) == [
        "spec.initContainers[0].livenessProbe: Forbidden: "
        "may not be set for init containers without restartPolicy=Always"
    ]


def test_regular_init_container_may_not_have_lifecycle_hooks() -> None:
    init = [{"name": "setup", "image": "busybox", "lifecycle": {"preStop": {"exec": {"command": ["true"]}}}}]
    assert errors(pod(initContainers=init)) == [
        "spec.initContainers[0].lifecycle: Forbidden: may not be set for init containers without restartPolicy=Always"
    ]


def test_probe_needs_a_handler() -> None:
    assert errors(with_container(livenessProbe={"periodSeconds": 5})) == [
        "spec.containers[0].livenessProbe: Required value: must specify a handler type"
    ]


def test_probe_may_have_only_one_handler() -> None:
    probe = {"httpGet": {"port": 80}, "tcpSocket": {"port": 80}}
    assert errors(with_container(readinessProbe=probe)) == [
        "spec.containers[0].readinessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type"
    ]


@pytest.mark.parametrize("kind", ["livenessProbe", "startupProbe"])
def test_liveness_and_startup_success_threshold_must_be_one(kind: str) -> None:
    probe = {"exec": {"command": ["true"]}, "successThreshold": 2}
    assert errors(with_container(**{kind: probe})) == [
        f"spec.containers[0].{kind}.successThreshold: Invalid value: 2: must be 1"
    ]


def test_readiness_success_threshold_may_exceed_one() -> None:
    assert errors(with_container(readinessProbe={"exec": {"command": ["true"]}, "successThreshold": 3})) == []


def test_readiness_probe_may_not_override_the_grace_period() -> None:
    probe = {"exec": {"command": ["true"]}, "terminationGracePeriodSeconds": 5}
    assert errors(with_container(readinessProbe=probe)) == [
        "spec.containers[0].readinessProbe.terminationGracePeriodSeconds: Invalid value: 5: "
        "must not be set for readinessProbes"
    ]


def test_probe_period_may_not_be_negative() -> None:
    assert errors(with_container(livenessProbe={"exec": {"command": ["true"]}, "periodSeconds": -1})) == [
        "spec.containers[0].livenessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0"
    ]


def test_exec_probe_needs_a_command() -> None:
    assert errors(with_container(livenessProbe={"exec": {"command": []}})) == [
        "spec.containers[0].livenessProbe.exec.command: Required value"
    ]


def test_quoted_numeric_probe_port_is_a_port_name() -> None:
    assert errors(with_container(livenessProbe={"httpGet": {"port": "8080"}})) == [
        'spec.containers[0].livenessProbe.httpGet.port: Invalid value: "8080": must contain at least one letter (a-z)'
    ]


def test_tcp_probe_port_must_be_in_range() -> None:
    assert errors(with_container(livenessProbe={"tcpSocket": {"port": 70000}})) == [
        "spec.containers[0].livenessProbe.tcpSocket.port: Invalid value: 70000: must be between 1 and 65535, inclusive"
    ]


def test_http_probe_scheme_must_be_known() -> None:
    assert errors(with_container(livenessProbe={"httpGet": {"port": 80, "scheme": "FTP"}})) == [
        'spec.containers[0].livenessProbe.httpGet.scheme: Unsupported value: "FTP": supported values: "HTTP", "HTTPS"'
    ]


def test_sleep_hook_may_not_outlast_the_grace_period() -> None:
    lifecycle = {"preStop": {"sleep": {"seconds": 60}}}
    assert errors(with_container(lifecycle=lifecycle)) == [
        "spec.containers[0].lifecycle.preStop.sleep: Invalid value: 60: "
        "must be non-negative and less than terminationGracePeriodSeconds (30)"
    ]


# --- ports ------------------------------------------------------------------------------------------------


def test_container_port_must_be_in_range() -> None:
    assert errors(with_container(ports=[{"containerPort": 70000}])) == [
        "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"
    ]


def test_container_port_is_required() -> None:
    assert errors(with_container(ports=[{"name": "http"}])) == [
        "spec.containers[0].ports[0].containerPort: Required value"
    ]


def test_port_name_must_be_an_iana_service_name() -> None:
    assert errors(with_container(ports=[{"containerPort": 80, "name": "Web-Port-Too-Long"}])) == [
        'spec.containers[0].ports[0].name: Invalid value: "Web-Port-Too-Long": must be no more than 15 characters',
        'spec.containers[0].ports[0].name: Invalid value: "Web-Port-Too-Long": '
        "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
    ]


def test_port_names_must_be_unique() -> None:
    ports = [{"containerPort": 80, "name": "http"}, {"containerPort": 81, "name": "http"}]
    assert errors(with_container(ports=ports)) == ['spec.containers[0].ports[1].name: Duplicate value: "http"']


def test_port_protocol_must_be_known() -> None:
    assert errors(with_container(ports=[{"containerPort": 80, "protocol": "ICMP"}])) == [
        'spec.containers[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"'
    ]


def test_host_ports_may_not_collide_across_containers() -> None:
    containers = [
        {"name": "a", "image": "nginx", "ports": [{"containerPort": 80, "hostPort": 8080}]},
        {"name": "b", "image": "nginx", "ports": [{"containerPort": 81, "hostPort": 8080}]},
    ]
    assert errors(pod(containers=containers)) == ['spec.containers[1].ports[0].hostPort: Duplicate value: "TCP//8080"']


def test_host_network_host_port_must_match_container_port() -> None:
    body = with_container(ports=[{"containerPort": 80, "hostPort": 8080}])
    body["spec"]["hostNetwork"] = True
    assert errors(body) == [
        "spec.containers[0].ports[0].hostPort: Invalid value: 8080: "
        "must match `containerPort` when `hostNetwork` is true"
    ]


# --- environment ------------------------------------------------------------------------------------------


def test_env_name_may_use_any_printable_ascii() -> None:
    assert errors(with_container(env=[{"name": "my.var-1 x", "value": "v"}])) == []


def test_env_name_may_not_contain_equals() -> None:
    assert errors(with_container(env=[{"name": "A=B"}])) == [
        'spec.containers[0].env[0].name: Invalid value: "A=B": '
        "a valid environment variable name must consist only of printable ASCII characters other than '='"
    ]


def test_env_name_is_required() -> None:
    assert errors(with_container(env=[{"value": "x"}])) == ["spec.containers[0].env[0].name: Required value"]


def test_value_from_needs_a_source() -> None:
    assert errors(with_container(env=[{"name": "X", "valueFrom": {}}])) == [
        'spec.containers[0].env[0].valueFrom: Invalid value: "": '
        "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"
    ]


def test_value_from_may_not_come_with_a_value() -> None:
    env = [{"name": "X", "value": "v", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]
    assert errors(with_container(env=env)) == [
        'spec.containers[0].env[0].valueFrom: Invalid value: "": may not be specified when `value` is not empty'
    ]


def test_value_from_may_have_only_one_source() -> None:
    source = {"secretKeyRef": {"name": "s", "key": "k"}, "configMapKeyRef": {"name": "c", "key": "k"}}
    assert errors(with_container(env=[{"name": "X", "valueFrom": source}])) == [
        'spec.containers[0].env[0].valueFrom: Invalid value: "": may not have more than one field specified at a time'
    ]


def test_field_ref_path_must_be_supported_for_env() -> None:
    env = [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "status.phase"}}}]
    assert errors(with_container(env=env)) == [
        'spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Unsupported value: "status.phase": supported '
        'values: "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", '
        '"spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"'
    ]


def test_unknown_field_ref_path_cannot_be_converted() -> None:
    env = [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "spec.foo"}}}]
    assert errors(with_container(env=env)) == [
        'spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Invalid value: "spec.foo": '
        "error converting fieldPath: field label not supported: spec.foo"
    ]


def test_field_ref_may_pick_one_label() -> None:
    env = [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}}]
    assert errors(with_container(env=env)) == []


def test_config_map_key_ref_key_must_be_a_valid_key() -> None:
    env = [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "a/b"}}}]
    assert errors(with_container(env=env)) == [
        'spec.containers[0].env[0].valueFrom.configMapKeyRef.key: Invalid value: "a/b": a valid config key must '
        "consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', "
        "regex used for validation is '[-._a-zA-Z0-9]+')"
    ]


def test_env_from_needs_a_reference() -> None:
    assert errors(with_container(envFrom=[{"prefix": "X_"}])) == [
        'spec.containers[0].envFrom: Invalid value: "": must specify one of: `configMapRef` or `secretRef`'
    ]


# --- volumes and mounts -----------------------------------------------------------------------------------


def volumes(*items: dict[str, Any], **container: Any) -> dict[str, Any]:
    return pod(volumes=list(items), containers=[{"name": "app", "image": "nginx:1.27", **container}])


def test_volume_names_must_be_unique() -> None:
    assert errors(volumes({"name": "data"}, {"name": "data"})) == ['spec.volumes[1].name: Duplicate value: "data"']


def test_volume_name_must_be_a_dns_label() -> None:
    assert errors(volumes({"name": "Data"})) == [f'spec.volumes[0].name: Invalid value: "Data": {LABEL_RULE}']


def test_volume_may_have_only_one_source() -> None:
    assert errors(volumes({"name": "data", "emptyDir": {}, "hostPath": {"path": "/srv"}})) == [
        "spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type"
    ]


def test_host_path_needs_a_path() -> None:
    assert errors(volumes({"name": "host", "hostPath": {"path": ""}})) == [
        "spec.volumes[0].hostPath.path: Required value"
    ]


def test_host_path_type_must_be_known() -> None:
    assert errors(volumes({"name": "host", "hostPath": {"path": "/srv", "type": "Dir"}})) == [
        'spec.volumes[0].hostPath.type: Unsupported value: "Dir": supported values: "", "BlockDevice", '
        '"CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"'
    ]


def test_host_path_may_not_step_back() -> None:
    assert errors(volumes({"name": "host", "hostPath": {"path": "/srv/../etc"}})) == [
        "spec.volumes[0].hostPath.path: Invalid value: \"/srv/../etc\": must not contain '..'"
    ]


def test_empty_dir_size_limit_may_not_be_negative() -> None:
    assert errors(volumes({"name": "tmp", "emptyDir": {"sizeLimit": "-1Gi"}})) == [
        "spec.volumes[0].emptyDir.sizeLimit: Forbidden: SizeLimit field must be a valid resource quantity"
    ]


def test_any_empty_dir_medium_passes_validation() -> None:
    assert errors(volumes({"name": "tmp", "emptyDir": {"medium": "Floppy"}})) == []


def test_config_map_volume_needs_a_name() -> None:
    assert errors(volumes({"name": "cfg", "configMap": {}})) == ["spec.volumes[0].configMap.name: Required value"]


def test_volume_default_mode_must_be_a_file_mode() -> None:
    assert errors(volumes({"name": "cfg", "configMap": {"name": "c", "defaultMode": 1000}})) == [
        "spec.volumes[0].configMap.defaultMode: Invalid value: 1000: "
        "must be a number between 0 and 0777 (octal), both inclusive"
    ]


def test_volume_item_path_must_be_relative() -> None:
    items = [{"key": "k", "path": "/etc/k"}]
    assert errors(volumes({"name": "cfg", "configMap": {"name": "c", "items": items}})) == [
        'spec.volumes[0].configMap.items[0].path: Invalid value: "/etc/k": must be a relative path'
    ]


def test_secret_volume_needs_a_secret_name() -> None:
    assert errors(volumes({"name": "s", "secret": {}})) == ["spec.volumes[0].secret.secretName: Required value"]


def test_volume_mount_must_name_a_volume() -> None:
    assert errors(volumes(volumeMounts=[{"name": "x", "mountPath": "/data"}])) == [
        'spec.containers[0].volumeMounts[0].name: Not found: "x"'
    ]


def test_volume_mount_of_an_invalid_volume_is_not_found() -> None:
    body = volumes({"name": "host", "hostPath": {"path": ""}}, volumeMounts=[{"name": "host", "mountPath": "/h"}])
    assert errors(body) == [
        "spec.volumes[0].hostPath.path: Required value",
        'spec.containers[0].volumeMounts[0].name: Not found: "host"',
    ]


def test_mount_path_is_required() -> None:
    assert errors(volumes({"name": "data"}, volumeMounts=[{"name": "data"}])) == [
        "spec.containers[0].volumeMounts[0].mountPath: Required value"
    ]


def test_mount_paths_must_be_unique_within_a_container() -> None:
    mounts = [{"name": "a", "mountPath": "/data"}, {"name": "b", "mountPath": "/data"}]
    assert errors(volumes({"name": "a"}, {"name": "b"}, volumeMounts=mounts)) == [
        'spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/data": must be unique'
    ]


def test_relative_mount_path_passes_validation_as_in_kubernetes() -> None:
    assert errors(volumes({"name": "data"}, volumeMounts=[{"name": "data", "mountPath": "data"}])) == []


def test_sub_path_may_not_step_back_and_is_reported_without_index() -> None:
    mounts = [{"name": "data", "mountPath": "/data", "subPath": "../etc"}]
    assert errors(volumes({"name": "data"}, volumeMounts=mounts)) == [
        "spec.containers[0].volumeMounts.subPath: Invalid value: \"../etc\": must not contain '..'"
    ]


def test_sub_path_must_be_relative() -> None:
    mounts = [{"name": "data", "mountPath": "/data", "subPath": "/etc"}]
    assert errors(volumes({"name": "data"}, volumeMounts=mounts)) == [
        'spec.containers[0].volumeMounts.subPath: Invalid value: "/etc": must be a relative path'
    ]


def test_bidirectional_propagation_needs_a_privileged_container() -> None:
    mounts = [{"name": "data", "mountPath": "/data", "mountPropagation": "Bidirectional"}]
    assert errors(volumes({"name": "data"}, volumeMounts=mounts)) == [
        "spec.containers[0].volumeMounts.mountPropagation: Forbidden: "
        "Bidirectional mount propagation is available only to privileged containers"
    ]


# --- resources --------------------------------------------------------------------------------------------


def test_request_may_not_exceed_limit() -> None:
    assert errors(with_container(resources={"limits": {"cpu": "1"}, "requests": {"cpu": "2"}})) == [
        'spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1'
    ]


def test_unknown_resource_name_gets_both_kubernetes_errors() -> None:
    assert errors(with_container(resources={"requests": {"maxmemory": "1"}})) == [
        'spec.containers[0].resources.requests[maxmemory]: Invalid value: "maxmemory": '
        "must be a standard resource type or fully qualified",
        'spec.containers[0].resources.requests[maxmemory]: Invalid value: "maxmemory": '
        "must be a standard resource for containers",
    ]


def test_resource_quantity_may_not_be_negative() -> None:
    assert errors(with_container(resources={"requests": {"memory": "-1Mi"}})) == [
        'spec.containers[0].resources.requests[memory]: Invalid value: "-1Mi": must be greater than or equal to 0'
    ]


def test_extended_resource_request_needs_a_limit() -> None:
    assert errors(with_container(resources={"requests": {"example.com/gpu": "1"}})) == [
        "spec.containers[0].resources.limits: Required value: Limit must be set for non overcommitable resources"
    ]


def test_extended_resource_must_be_whole() -> None:
    assert errors(with_container(resources={"limits": {"example.com/gpu": "500m"}})) == [
        "spec.containers[0].resources.limits[example.com/gpu]: Invalid value: 500m: must be an integer",
        "spec.containers[0].resources.requests[example.com/gpu]: Invalid value: 500m: must be an integer",
    ]


def test_huge_pages_need_cpu_or_memory() -> None:
    assert errors(with_container(resources={"limits": {"hugepages-2Mi": "4Mi"}})) == [
        "spec.containers[0].resources: Forbidden: HugePages require cpu or memory"
    ]


def test_undecodable_quantity_is_reported_on_an_undefaulted_pod() -> None:
    body = with_container(resources={"limits": {"cpu": "one"}})
    assert (
        'spec.containers[0].resources.limits[cpu]: Invalid value: "one": quantities must match the regular '
        "expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    ) in [str(error) for error in validate_pod(body)]


# --- pod spec fields --------------------------------------------------------------------------------------


def test_negative_grace_period_is_not_an_error() -> None:
    assert errors(pod(terminationGracePeriodSeconds=-1)) == []


def test_active_deadline_must_be_positive() -> None:
    assert errors(pod(activeDeadlineSeconds=0)) == [
        "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive"
    ]


@pytest.mark.parametrize("field", ["hostname", "subdomain"])
def test_hostname_and_subdomain_must_be_dns_labels(field: str) -> None:
    assert errors(pod(**{field: "my_host"})) == [f'spec.{field}: Invalid value: "my_host": {LABEL_RULE}']


def test_dns_policy_must_be_known() -> None:
    assert errors(pod(dnsPolicy="Cluster")) == [
        'spec.dnsPolicy: Unsupported value: "Cluster": supported values: "ClusterFirstWithHostNet", '
        '"ClusterFirst", "Default", "None"'
    ]


def test_dns_policy_none_needs_a_dns_config() -> None:
    assert errors(pod(dnsPolicy="None")) == [
        "spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None"
    ]


def test_dns_nameserver_must_be_an_ip() -> None:
    assert errors(pod(dnsConfig={"nameservers": ["dns.local"]})) == [
        'spec.dnsConfig.nameservers[0]: Invalid value: "dns.local": '
        "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
    ]


def test_exists_toleration_may_not_have_a_value() -> None:
    assert errors(pod(tolerations=[{"key": "k", "operator": "Exists", "value": "v"}])) == [
        "spec.tolerations[0].operator: Invalid value: \"v\": value must be empty when `operator` is 'Exists'"
    ]


def test_toleration_seconds_need_no_execute() -> None:
    toleration = {"key": "k", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 5}
    assert errors(pod(tolerations=[toleration])) == [
        "spec.tolerations[0].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when "
        "`tolerationSeconds` is set"
    ]


def test_service_account_name_must_be_a_subdomain() -> None:
    assert errors(pod(serviceAccountName="Robot")) == [
        f'spec.serviceAccountName: Invalid value: "Robot": {SUBDOMAIN_RULE}'
    ]


def test_ephemeral_containers_cannot_be_set_on_create() -> None:
    assert errors(pod(ephemeralContainers=[{"name": "debug", "image": "busybox"}])) == [
        "spec.ephemeralContainers: Forbidden: cannot be set on create"
    ]


def test_errors_come_in_kubernetes_order() -> None:
    body = pod(restartPolicy="Sometimes", containers=[{"name": "app"}])
    body["metadata"]["name"] = "Bad_Name"
    message = str(InvalidError("Pod", "Bad_Name", validate_pod(default_pod(body))))
    assert message == (
        f'Pod "Bad_Name" is invalid: [metadata.name: Invalid value: "Bad_Name": {SUBDOMAIN_RULE}, '
        "spec.containers[0].image: Required value, "
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"]'
    )


# --- updates ----------------------------------------------------------------------------------------------


def update(change: Any, **spec: Any) -> list[str]:
    old = default_pod(pod(**spec))
    new = copy.deepcopy(old)
    change(new)
    return [str(error) for error in validate_pod_update(old, new)]


def test_container_image_may_change() -> None:
    assert update(lambda new: new["spec"]["containers"][0].update(image="nginx:1.28")) == []


def test_active_deadline_may_be_set() -> None:
    assert update(lambda new: new["spec"].update(activeDeadlineSeconds=60)) == []


def test_active_deadline_may_not_grow() -> None:
    assert update(lambda new: new["spec"].update(activeDeadlineSeconds=90), activeDeadlineSeconds=60) == [
        "spec.activeDeadlineSeconds: Invalid value: 90: must be less than or equal to previous value"
    ]


def test_active_deadline_may_not_be_removed() -> None:
    assert update(lambda new: new["spec"].pop("activeDeadlineSeconds"), activeDeadlineSeconds=60) == [
        'spec.activeDeadlineSeconds: Invalid value: "null": must not update from a positive integer to nil value'
    ]


def test_tolerations_may_be_added() -> None:
    added = {"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}
    assert update(lambda new: new["spec"]["tolerations"].append(added)) == []


def test_existing_toleration_may_not_change() -> None:
    assert update(lambda new: new["spec"]["tolerations"][0].update(key="example.com/other")) == [
        "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"
    ]


def test_containers_may_not_be_added() -> None:
    added = default_pod(pod(containers=[{"name": "b", "image": "nginx"}]))["spec"]["containers"][0]
    assert update(lambda new: new["spec"]["containers"].append(added)) == [
        "spec.containers: Forbidden: pod updates may not add or remove containers"
    ]


def test_other_spec_change_is_forbidden_with_a_diff() -> None:
    assert update(lambda new: new["spec"].update(restartPolicy="Never")) == [
        f'{UPDATE_RULE}\n- spec.restartPolicy: "Always"\n+ spec.restartPolicy: "Never"\n'
    ]


def test_negative_grace_period_may_become_one() -> None:
    assert (
        update(lambda new: new["spec"].update(terminationGracePeriodSeconds=1), terminationGracePeriodSeconds=-1) == []
    )


def test_grace_period_may_not_otherwise_change() -> None:
    assert update(lambda new: new["spec"].update(terminationGracePeriodSeconds=1)) == [
        f"{UPDATE_RULE}\n- spec.terminationGracePeriodSeconds: 30\n+ spec.terminationGracePeriodSeconds: 1\n"
    ]


def test_name_may_not_change() -> None:
    assert update(lambda new: new["metadata"].update(name="api")) == [
        'metadata.name: Invalid value: "api": field is immutable'
    ]


def test_labels_may_change() -> None:
    assert update(lambda new: new["metadata"].update(labels={"tier": "front"})) == []


# --- configmaps and secrets -------------------------------------------------------------------------------


def configmap(**fields: Any) -> list[str]:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, **fields}
    return [str(error) for error in validate_configmap(default_configmap(body))]


def secret(**fields: Any) -> list[str]:
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"}, **fields}
    return [str(error) for error in validate_secret(default_secret(body))]


def test_valid_configmap_has_no_errors() -> None:
    assert configmap(data={"app.conf": "x=1"}, binaryData={"logo.png": "iVBORw=="}) == []


def test_configmap_key_must_be_a_config_key() -> None:
    assert configmap(data={"a b": "x"}) == [
        "data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', "
        "'_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
        "'[-._a-zA-Z0-9]+')"
    ]


def test_configmap_key_may_not_start_with_two_dots() -> None:
    assert configmap(data={"..data": "x"}) == ["data[..data]: Invalid value: \"..data\": must not start with '..'"]


def test_configmap_key_may_not_be_in_both_maps() -> None:
    assert configmap(data={"k": "x"}, binaryData={"k": "eA=="}) == [
        'data[k]: Invalid value: "k": duplicate of key present in binaryData'
    ]


def test_configmap_over_one_mebibyte_is_too_long() -> None:
    assert configmap(data={"big": "x" * (1024 * 1024 + 1)}) == [": Too long: may not be more than 1048576 bytes"]


def test_valid_secret_has_no_errors() -> None:
    assert secret(stringData={"password": "hunter2"}) == []


def test_secret_key_must_be_a_config_key() -> None:
    assert secret(stringData={"a/b": "x"}) == [
        "data[a/b]: Invalid value: \"a/b\": a valid config key must consist of alphanumeric characters, '-', "
        "'_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
        "'[-._a-zA-Z0-9]+')"
    ]


def test_secret_over_one_mebibyte_is_too_long() -> None:
    assert secret(stringData={"big": "x" * (1024 * 1024 + 1)}) == ["data: Too long: may not be more than 1048576 bytes"]


def test_tls_secret_needs_certificate_and_key() -> None:
    assert secret(type="kubernetes.io/tls") == ["data[tls.crt]: Required value", "data[tls.key]: Required value"]


def test_secret_name_must_be_a_subdomain() -> None:
    body = {"metadata": {"name": "Creds"}}
    assert [str(error) for error in validate_secret(default_secret(body))] == [
        f'metadata.name: Invalid value: "Creds": {SUBDOMAIN_RULE}'
    ]


# --- warnings ---------------------------------------------------------------------------------------------


def warnings(body: dict[str, Any]) -> list[str]:
    return pod_warnings(default_pod(body))


def test_clean_pod_has_no_warnings() -> None:
    assert warnings(pod()) == []


def test_same_port_in_two_containers_is_a_duplicate_definition() -> None:
    containers = [
        {"name": "a", "image": "nginx", "ports": [{"containerPort": 80}]},
        {"name": "b", "image": "nginx", "ports": [{"containerPort": 80}]},
    ]
    assert warnings(pod(containers=containers)) == [
        "spec.containers[1].ports[0]: duplicate port definition with spec.containers[0].ports[0]"
    ]


def test_same_port_with_and_without_host_port_overlaps() -> None:
    containers = [
        {"name": "a", "image": "nginx", "ports": [{"containerPort": 80, "hostPort": 8080}]},
        {"name": "b", "image": "nginx", "ports": [{"containerPort": 80}]},
    ]
    assert warnings(pod(containers=containers)) == [
        "spec.containers[1].ports[0]: overlapping port definition with spec.containers[0].ports[0]"
    ]


def test_init_container_ports_are_compared_first() -> None:
    body = with_container(ports=[{"containerPort": 80}])
    body["spec"]["initContainers"] = [{"name": "setup", "image": "busybox", "ports": [{"containerPort": 80}]}]
    assert warnings(body) == [
        "spec.containers[0].ports[0]: duplicate port definition with spec.initContainers[0].ports[0]"
    ]


def test_host_ip_without_host_port_is_reported_with_the_port() -> None:
    assert warnings(with_container(ports=[{"containerPort": 80, "hostIP": "127.0.0.1"}])) == [
        "spec.containers[0].ports[0]: hostIP set without hostPort: "
        "{Name: HostPort:0 ContainerPort:80 Protocol:TCP HostIP:127.0.0.1}"
    ]


def test_negative_grace_period_is_a_warning() -> None:
    assert warnings(pod(terminationGracePeriodSeconds=-1)) == [
        "spec.terminationGracePeriodSeconds: must be >= 0; negative values are invalid and will be treated as 1"
    ]


def test_dotted_pod_name_is_a_warning() -> None:
    body = pod()
    body["metadata"]["name"] = "web.v2"
    assert warnings(body) == [
        "metadata.name: this is used in the Pod's hostname, which can result in surprising behavior; "
        "a DNS label is recommended: [must not contain dots]"
    ]


def test_redefined_env_var_is_a_warning() -> None:
    env = [{"name": "MODE", "value": "a"}, {"name": "MODE", "value": "b"}]
    assert warnings(with_container(env=env)) == [
        'spec.containers[0].env[1]: hides previous definition of "MODE", which may be dropped when using apply'
    ]


def test_env_var_building_on_its_previous_value_is_not_a_warning() -> None:
    env = [{"name": "PATH", "value": "/bin"}, {"name": "PATH", "value": "$(PATH):/opt/bin"}]
    assert warnings(with_container(env=env)) == []


def test_fractional_memory_is_a_warning() -> None:
    assert warnings(with_container(resources={"requests": {"memory": "0.5"}})) == [
        'spec.containers[0].resources.requests[memory]: fractional byte value "500m" is invalid, must be an integer'
    ]


def test_deprecated_node_label_in_selector_is_a_warning() -> None:
    assert warnings(pod(nodeSelector={"beta.kubernetes.io/os": "linux"})) == [
        'spec.nodeSelector[beta.kubernetes.io/os]: deprecated since v1.14; use "kubernetes.io/os" instead'
    ]
