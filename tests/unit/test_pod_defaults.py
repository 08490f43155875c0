"""Defaulting as the API server does it on create: v1 defaults, conversions and admission."""

import copy
from typing import Any

import pytest

from podrun.model.defaults import default_configmap, default_pod, default_secret, generate_name


def pod(spec: dict[str, Any] | None = None, **container: Any) -> dict[str, Any]:
    body = spec if spec is not None else {"containers": [{"name": "app", "image": "nginx:1.27", **container}]}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}, "spec": body}


def container_of(obj: dict[str, Any], index: int = 0, key: str = "containers") -> dict[str, Any]:
    return obj["spec"][key][index]


def test_returns_a_new_dict_and_leaves_the_input_alone() -> None:
    original = pod()
    snapshot = copy.deepcopy(original)
    result = default_pod(original)
    assert original == snapshot
    assert result is not original


def test_namespace_defaults_to_default() -> None:
    assert default_pod(pod())["metadata"]["namespace"] == "default"


def test_given_namespace_is_kept() -> None:
    body = pod()
    body["metadata"]["namespace"] = "team"
    assert default_pod(body)["metadata"]["namespace"] == "team"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("restartPolicy", "Always"),
        ("terminationGracePeriodSeconds", 30),
        ("dnsPolicy", "ClusterFirst"),
        ("schedulerName", "default-scheduler"),
        ("securityContext", {}),
        ("enableServiceLinks", True),
        ("serviceAccountName", "default"),
        ("serviceAccount", "default"),
        ("priority", 0),
        ("preemptionPolicy", "PreemptLowerPriority"),
    ],
)
def test_pod_spec_default(field: str, value: Any) -> None:
    assert default_pod(pod())["spec"][field] == value


def test_given_restart_policy_is_kept() -> None:
    body = pod()
    body["spec"]["restartPolicy"] = "Never"
    assert default_pod(body)["spec"]["restartPolicy"] == "Never"


def test_deprecated_service_account_fills_service_account_name() -> None:
    body = pod()
    body["spec"]["serviceAccount"] = "builder"
    assert default_pod(body)["spec"]["serviceAccountName"] == "builder"


def test_system_priority_class_sets_its_priority() -> None:
    body = pod()
    body["spec"]["priorityClassName"] = "system-node-critical"
    assert default_pod(body)["spec"]["priority"] == 2000001000


def test_not_ready_and_unreachable_tolerations_are_added() -> None:
    assert default_pod(pod())["spec"]["tolerations"] == [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {
            "key": "node.kubernetes.io/unreachable",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 300,
        },
    ]


def test_existing_not_ready_toleration_is_kept_and_only_unreachable_added() -> None:
    mine = {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}
    body = pod()
    body["spec"]["tolerations"] = [mine]
    tolerations = default_pod(body)["spec"]["tolerations"]
    assert [item["key"] for item in tolerations] == ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"]
    assert tolerations[0] == mine


def test_toleration_of_everything_adds_nothing() -> None:
    body = pod()
    body["spec"]["tolerations"] = [{"operator": "Exists"}]
    assert default_pod(body)["spec"]["tolerations"] == [{"operator": "Exists"}]


@pytest.mark.parametrize(
    ("field", "value"),
    [("terminationMessagePath", "/dev/termination-log"), ("terminationMessagePolicy", "File"), ("resources", {})],
)
def test_container_default(field: str, value: Any) -> None:
    assert container_of(default_pod(pod()))[field] == value


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.27", "IfNotPresent"),
        ("nginx@sha256:" + "a" * 64, "IfNotPresent"),
        ("registry.local:5000/tools/app:v2", "IfNotPresent"),
    ],
)
def test_image_pull_policy_follows_the_tag(image: str, policy: str) -> None:
    assert container_of(default_pod(pod(image=image)))["imagePullPolicy"] == policy


def test_given_image_pull_policy_is_kept() -> None:
    assert container_of(default_pod(pod(image="nginx", imagePullPolicy="Never")))["imagePullPolicy"] == "Never"


def test_init_containers_get_container_defaults() -> None:
    body = pod()
    body["spec"]["initContainers"] = [{"name": "setup", "image": "busybox"}]
    init = container_of(default_pod(body), key="initContainers")
    assert (init["imagePullPolicy"], init["terminationMessagePolicy"]) == ("Always", "File")


def test_port_protocol_defaults_to_tcp() -> None:
    assert container_of(default_pod(pod(ports=[{"containerPort": 80}])))["ports"] == [
        {"containerPort": 80, "protocol": "TCP"}
    ]


def test_host_network_sets_host_port_to_container_port() -> None:
    body = pod(ports=[{"containerPort": 8080}])
    body["spec"]["hostNetwork"] = True
    assert container_of(default_pod(body))["ports"][0]["hostPort"] == 8080


def test_requests_default_to_limits() -> None:
    result = default_pod(pod(resources={"limits": {"cpu": "1", "memory": "128Mi"}}))
    assert container_of(result)["resources"]["requests"] == {"cpu": "1", "memory": "128Mi"}


def test_given_requests_are_kept_when_limits_are_copied() -> None:
    result = default_pod(pod(resources={"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "250m"}}))
    assert container_of(result)["resources"]["requests"] == {"cpu": "250m", "memory": "1Gi"}


def test_ephemeral_containers_do_not_copy_limits_to_requests() -> None:
    body = pod()
    body["spec"]["ephemeralContainers"] = [{"name": "debug", "image": "busybox", "resources": {"limits": {"cpu": "1"}}}]
    assert "requests" not in container_of(default_pod(body), key="ephemeralContainers")["resources"]


def test_resource_quantities_are_written_canonically() -> None:
    result = default_pod(pod(resources={"limits": {"cpu": 0.5, "memory": "1024Mi"}}))
    assert container_of(result)["resources"]["limits"] == {"cpu": "500m", "memory": "1Gi"}


def test_resource_quantities_round_up_to_milli_units() -> None:
    result = default_pod(pod(resources={"requests": {"cpu": "100u"}}))
    assert container_of(result)["resources"]["requests"] == {"cpu": "1m"}


def test_invalid_quantity_cannot_be_decoded() -> None:
    with pytest.raises(ValueError) as info:
        default_pod(pod(resources={"limits": {"cpu": "one"}}))
    assert str(info.value) == (
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )


def test_probe_defaults() -> None:
    probe = container_of(default_pod(pod(livenessProbe={"exec": {"command": ["true"]}})))["livenessProbe"]
    assert probe == {
        "exec": {"command": ["true"]},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }


def test_probe_http_get_defaults_path_and_scheme() -> None:
    probe = container_of(default_pod(pod(readinessProbe={"httpGet": {"port": 80}})))["readinessProbe"]
    assert probe["httpGet"] == {"port": 80, "path": "/", "scheme": "HTTP"}


def test_probe_grpc_service_defaults_to_empty() -> None:
    probe = container_of(default_pod(pod(startupProbe={"grpc": {"port": 9000}})))["startupProbe"]
    assert probe["grpc"] == {"port": 9000, "service": ""}


def test_lifecycle_http_get_gets_defaults() -> None:
    result = default_pod(pod(lifecycle={"preStop": {"httpGet": {"port": 80, "path": "/quit"}}}))
    assert container_of(result)["lifecycle"]["preStop"]["httpGet"] == {"port": 80, "path": "/quit", "scheme": "HTTP"}


def test_env_field_ref_api_version_defaults_to_v1() -> None:
    env = [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    result = container_of(default_pod(pod(env=env)))["env"]
    assert result[0]["valueFrom"]["fieldRef"] == {"fieldPath": "metadata.name", "apiVersion": "v1"}


def test_env_resource_field_ref_divisor_prints_as_zero() -> None:
    env = [{"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}]
    result = container_of(default_pod(pod(env=env)))["env"]
    assert result[0]["valueFrom"]["resourceFieldRef"] == {"resource": "limits.cpu", "divisor": "0"}


def volume_pod(*volumes: dict[str, Any]) -> dict[str, Any]:
    body = pod()
    body["spec"]["volumes"] = list(volumes)
    return body


def test_volume_without_source_becomes_empty_dir() -> None:
    assert default_pod(volume_pod({"name": "scratch"}))["spec"]["volumes"] == [{"name": "scratch", "emptyDir": {}}]


@pytest.mark.parametrize(
    ("source", "body"),
    [
        ("configMap", {"name": "settings"}),
        ("secret", {"secretName": "creds"}),
        ("downwardAPI", {"items": []}),
        ("projected", {"sources": []}),
    ],
)
def test_file_volume_default_mode_is_0644(source: str, body: dict[str, Any]) -> None:
    volume = default_pod(volume_pod({"name": "files", source: body}))["spec"]["volumes"][0]
    assert volume[source]["defaultMode"] == 420


def test_host_path_type_defaults_to_empty() -> None:
    volume = default_pod(volume_pod({"name": "host", "hostPath": {"path": "/srv"}}))["spec"]["volumes"][0]
    assert volume["hostPath"] == {"path": "/srv", "type": ""}


def test_empty_dir_size_limit_is_written_canonically() -> None:
    volume = default_pod(volume_pod({"name": "tmp", "emptyDir": {"sizeLimit": "1024Mi"}}))["spec"]["volumes"][0]
    assert volume["emptyDir"] == {"sizeLimit": "1Gi"}


def test_downward_api_volume_field_ref_api_version_defaults_to_v1() -> None:
    items = [{"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]
    volume = default_pod(volume_pod({"name": "info", "downwardAPI": {"items": items}}))["spec"]["volumes"][0]
    assert volume["downwardAPI"]["items"][0]["fieldRef"]["apiVersion"] == "v1"


def test_service_account_token_expiration_defaults_to_an_hour() -> None:
    sources = [{"serviceAccountToken": {"path": "token"}}]
    volume = default_pod(volume_pod({"name": "token", "projected": {"sources": sources}}))["spec"]["volumes"][0]
    assert volume["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"] == 3600


def test_numeric_label_value_cannot_be_decoded() -> None:
    body = pod()
    body["metadata"]["labels"] = {"version": 2}
    with pytest.raises(ValueError) as info:
        default_pod(body)
    assert str(info.value) == (
        "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string"
    )


def test_null_label_value_becomes_empty() -> None:
    body = pod()
    body["metadata"]["labels"] = {"tier": None}
    assert default_pod(body)["metadata"]["labels"] == {"tier": ""}


def test_configmap_namespace_defaults_to_default() -> None:
    result = default_configmap({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}})
    assert result["metadata"]["namespace"] == "default"


def test_configmap_numeric_data_value_cannot_be_decoded() -> None:
    with pytest.raises(ValueError) as info:
        default_configmap({"metadata": {"name": "c"}, "data": {"port": 8080}})
    assert str(info.value) == "json: cannot unmarshal number into Go struct field ConfigMap.data of type string"


def test_secret_type_defaults_to_opaque() -> None:
    assert default_secret({"metadata": {"name": "s"}})["type"] == "Opaque"


def test_secret_string_data_is_merged_into_base64_data() -> None:
    result = default_secret({"metadata": {"name": "s"}, "data": {"a": "b2xk"}, "stringData": {"a": "new", "b": "x"}})
    assert result["data"] == {"a": "bmV3", "b": "eA=="}
    assert "stringData" not in result


def test_secret_base64_with_line_breaks_is_normalised() -> None:
    assert default_secret({"metadata": {"name": "s"}, "data": {"k": "aGVs\nbG8="}})["data"] == {"k": "aGVsbG8="}


def test_secret_invalid_base64_cannot_be_decoded() -> None:
    with pytest.raises(ValueError) as info:
        default_secret({"metadata": {"name": "s"}, "data": {"k": "ab!d"}})
    assert str(info.value) == "illegal base64 data at input byte 2"


def test_generated_name_is_the_base_and_five_characters() -> None:
    name = generate_name("web-", choose=lambda alphabet: alphabet[0])
    assert name == "web-bbbbb"


def test_generated_name_cuts_a_long_base_to_58_characters() -> None:
    assert len(generate_name("x" * 80)) == 63
