"""A container's environment, as the kubelet's makeEnvironmentVariables builds it."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from podrun.kubelet.env import ContainerConfigError, format_map, pod_field_value, resolve_env

GiB = 1024**3


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


CONFIGMAPS: dict[str, dict[str, Any]] = {
    "app": {"data": {"MODE": "prod", "LEVEL": "3", "dotted.key": "d"}},
    "other": {"data": {"MODE": "dev"}},
}
SECRETS: dict[str, dict[str, Any]] = {
    "creds": {"data": {"PASSWORD": b64("hunter2"), "TOKEN": b64("t0k")}},
    "binary": {"data": {"RAW": b64(b"\xff\xfe")}},
}


def make_pod(container: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "web-1",
            "namespace": "shop",
            "uid": "1234-abcd",
            "labels": {"app": "web", "tier": "front"},
            "annotations": {"note": 'say "hi"'},
        },
        "spec": {"serviceAccountName": "default", "containers": [container], **spec},
    }


def env_of(container: dict[str, Any], pod: dict[str, Any] | None = None, **overrides: Any) -> list[tuple[str, str]]:
    pod = pod or make_pod(container)
    kwargs: dict[str, Any] = {
        "get_configmap": CONFIGMAPS.get,
        "get_secret": SECRETS.get,
        "pod_ip": "10.88.0.7",
        "host_ip": "192.168.1.5",
        "node_name": "node-a",
        "node_allocatable": {"cpu": 4000, "memory": 8 * GiB, "ephemeral-storage": 100 * GiB},
        "list_services": lambda namespace: [],
    }
    kwargs.update(overrides)
    return resolve_env(pod, container, **kwargs)


def error_of(container: dict[str, Any]) -> str:
    with pytest.raises(ContainerConfigError) as caught:
        env_of(container)
    return caught.value.message


def field(path: str) -> dict[str, Any]:
    return {"name": "V", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}}


def resource(resource_name: str, divisor: str = "0", container_name: str = "") -> dict[str, Any]:
    ref = {"resource": resource_name, "divisor": divisor}
    if container_name:
        ref["containerName"] = container_name
    return {"name": "V", "valueFrom": {"resourceFieldRef": ref}}


def value_of(var: dict[str, Any], container: dict[str, Any] | None = None) -> str:
    container = {"name": "c", **(container or {}), "env": [var]}
    return dict(env_of(container))["V"]


# --- envFrom --------------------------------------------------------------------------------------------


def test_env_from_configmap_defines_every_key_in_key_order() -> None:
    assert env_of({"name": "c", "envFrom": [{"configMapRef": {"name": "app"}}]}) == [
        ("LEVEL", "3"),
        ("MODE", "prod"),
        ("dotted.key", "d"),
    ]


def test_env_from_prefix_is_prepended_to_each_key() -> None:
    env = env_of({"name": "c", "envFrom": [{"prefix": "APP_", "configMapRef": {"name": "other"}}]})
    assert env == [("APP_MODE", "dev")]


def test_env_from_secret_values_are_decoded() -> None:
    env = env_of({"name": "c", "envFrom": [{"secretRef": {"name": "creds"}}]})
    assert env == [("PASSWORD", "hunter2"), ("TOKEN", "t0k")]


def test_env_from_secret_bytes_that_are_not_utf8_survive_a_round_trip() -> None:
    env = dict(env_of({"name": "c", "envFrom": [{"secretRef": {"name": "binary"}}]}))
    assert env["RAW"].encode("utf-8", "surrogateescape") == b"\xff\xfe"


def test_later_env_from_source_overrides_an_earlier_one() -> None:
    container = {"name": "c", "envFrom": [{"configMapRef": {"name": "app"}}, {"configMapRef": {"name": "other"}}]}
    assert dict(env_of(container))["MODE"] == "dev"


def test_env_from_missing_configmap_fails_with_not_found() -> None:
    assert error_of({"name": "c", "envFrom": [{"configMapRef": {"name": "gone"}}]}) == 'configmap "gone" not found'


def test_env_from_missing_secret_fails_with_not_found() -> None:
    assert error_of({"name": "c", "envFrom": [{"secretRef": {"name": "gone"}}]}) == 'secret "gone" not found'


def test_env_from_missing_optional_configmap_is_skipped() -> None:
    container = {"name": "c", "envFrom": [{"configMapRef": {"name": "gone", "optional": True}}]}
    assert env_of(container) == []


def test_env_from_keys_that_are_not_c_identifiers_are_kept() -> None:
    # Since RelaxedEnvironmentVariableValidation the kubelet skips no key and records no event.
    assert ("dotted.key", "d") in env_of({"name": "c", "envFrom": [{"configMapRef": {"name": "app"}}]})


# --- env values and $(VAR) expansion ------------------------------------------------------------------


def test_env_values_come_in_declaration_order() -> None:
    container = {"name": "c", "env": [{"name": "Z", "value": "1"}, {"name": "A", "value": "2"}]}
    assert env_of(container) == [("Z", "1"), ("A", "2")]


def test_env_overrides_env_from_in_place() -> None:
    container = {
        "name": "c",
        "envFrom": [{"configMapRef": {"name": "app"}}],
        "env": [{"name": "LEVEL", "value": "9"}],
    }
    assert env_of(container) == [("LEVEL", "9"), ("MODE", "prod"), ("dotted.key", "d")]


def test_env_value_expands_an_earlier_env_var() -> None:
    container = {"name": "c", "env": [{"name": "HOST", "value": "db"}, {"name": "URL", "value": "pg://$(HOST):5432"}]}
    assert dict(env_of(container))["URL"] == "pg://db:5432"


def test_env_value_expands_an_env_from_var() -> None:
    container = {
        "name": "c",
        "envFrom": [{"configMapRef": {"name": "app"}}],
        "env": [{"name": "X", "value": "$(MODE)"}],
    }
    assert dict(env_of(container))["X"] == "prod"


def test_env_value_keeps_a_reference_to_a_later_var() -> None:
    container = {"name": "c", "env": [{"name": "A", "value": "$(B)"}, {"name": "B", "value": "b"}]}
    assert dict(env_of(container))["A"] == "$(B)"


def test_env_value_escaped_reference_stays_literal() -> None:
    container = {"name": "c", "env": [{"name": "A", "value": "a"}, {"name": "B", "value": "$$(A)"}]}
    assert dict(env_of(container))["B"] == "$(A)"


def test_env_var_without_value_is_defined_empty() -> None:
    assert env_of({"name": "c", "env": [{"name": "EMPTY"}]}) == [("EMPTY", "")]


# --- configMapKeyRef and secretKeyRef -----------------------------------------------------------------


def test_configmap_key_ref_gives_the_key_value() -> None:
    assert value_of({"name": "V", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "MODE"}}}) == "prod"


def test_configmap_key_ref_to_a_missing_key_fails() -> None:
    container = {"name": "c", "env": [{"name": "V", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "K"}}}]}
    assert error_of(container) == "couldn't find key K in ConfigMap shop/app"


def test_configmap_key_ref_to_a_missing_configmap_fails() -> None:
    container = {"name": "c", "env": [{"name": "V", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "K"}}}]}
    assert error_of(container) == 'configmap "gone" not found'


def test_optional_configmap_key_ref_to_a_missing_key_leaves_the_var_undefined() -> None:
    ref = {"name": "app", "key": "K", "optional": True}
    container = {"name": "c", "env": [{"name": "V", "valueFrom": {"configMapKeyRef": ref}}]}
    assert env_of(container) == []


def test_optional_key_ref_that_is_missing_keeps_the_env_from_value() -> None:
    ref = {"name": "gone", "key": "MODE", "optional": True}
    container = {
        "name": "c",
        "envFrom": [{"configMapRef": {"name": "other"}}],
        "env": [{"name": "MODE", "valueFrom": {"configMapKeyRef": ref}}],
    }
    assert env_of(container) == [("MODE", "dev")]


def test_secret_key_ref_gives_the_decoded_value() -> None:
    assert value_of({"name": "V", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "PASSWORD"}}}) == "hunter2"


def test_secret_key_ref_to_a_missing_key_fails() -> None:
    container = {"name": "c", "env": [{"name": "V", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "K"}}}]}
    assert error_of(container) == "couldn't find key K in Secret shop/creds"


def test_secret_key_ref_to_a_missing_secret_fails() -> None:
    container = {"name": "c", "env": [{"name": "V", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "K"}}}]}
    assert error_of(container) == 'secret "gone" not found'


def test_optional_secret_key_ref_to_a_missing_secret_leaves_the_var_undefined() -> None:
    ref = {"name": "gone", "key": "K", "optional": True}
    assert env_of({"name": "c", "env": [{"name": "V", "valueFrom": {"secretKeyRef": ref}}]}) == []


def test_each_configmap_is_fetched_once() -> None:
    calls: list[str] = []

    def get_configmap(name: str) -> dict[str, Any] | None:
        calls.append(name)
        return CONFIGMAPS.get(name)

    container = {
        "name": "c",
        "envFrom": [{"configMapRef": {"name": "app"}}],
        "env": [{"name": "V", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "MODE"}}}],
    }
    env_of(container, get_configmap=get_configmap)
    assert calls == ["app"]


# --- fieldRef -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("metadata.name", "web-1"),
        ("metadata.namespace", "shop"),
        ("metadata.uid", "1234-abcd"),
        ("metadata.labels['tier']", "front"),
        ("metadata.annotations['note']", 'say "hi"'),
        ("spec.serviceAccountName", "default"),
        ("status.podIP", "10.88.0.7"),
        ("status.podIPs", "10.88.0.7"),
        ("status.hostIP", "192.168.1.5"),
        ("status.hostIPs", "192.168.1.5"),
    ],
)
def test_field_ref_gives_the_pod_field(path: str, expected: str) -> None:
    assert value_of(field(path)) == expected


def test_field_ref_to_a_missing_label_is_empty() -> None:
    assert value_of(field("metadata.labels['absent']")) == ""


def test_field_ref_node_name_is_the_node_running_the_pod() -> None:
    assert value_of(field("spec.nodeName")) == "node-a"


def test_field_ref_legacy_spec_host_is_the_node_name() -> None:
    assert value_of(field("spec.host")) == "node-a"


def test_field_ref_to_a_field_the_kubelet_cannot_extract_fails() -> None:
    assert error_of({"name": "c", "env": [field("status.phase")]}) == "unsupported fieldPath: status.phase"


def test_field_ref_to_an_unknown_field_fails() -> None:
    assert error_of({"name": "c", "env": [field("spec.hostname")]}) == "field label not supported: spec.hostname"


def test_field_ref_subscript_on_a_plain_field_fails() -> None:
    message = error_of({"name": "c", "env": [field("metadata.name['x']")]})
    assert message == "field label does not support subscript: metadata.name['x']"


def test_field_ref_of_another_api_version_fails() -> None:
    var = {"name": "V", "valueFrom": {"fieldRef": {"apiVersion": "v2", "fieldPath": "metadata.name"}}}
    assert error_of({"name": "c", "env": [var]}) == "unsupported pod version: v2"


def test_whole_label_map_is_sorted_go_quoted_lines() -> None:
    assert pod_field_value(make_pod({}), "metadata.labels") == 'app="web"\ntier="front"'


def test_format_map_quotes_values_as_go_does() -> None:
    assert format_map({"b": "line\nbreak", "a": 'q"uote'}) == 'a="q\\"uote"\nb="line\\nbreak"'


# --- resourceFieldRef ---------------------------------------------------------------------------------

LIMITED = {"resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "250m", "memory": "64Mi"}}}


def test_cpu_limit_rounds_up_to_whole_cores_by_default() -> None:
    assert value_of(resource("limits.cpu"), LIMITED) == "1"


def test_cpu_limit_with_millicore_divisor() -> None:
    assert value_of(resource("limits.cpu", "1m"), LIMITED) == "500"


def test_cpu_request_with_millicore_divisor() -> None:
    assert value_of(resource("requests.cpu", "1m"), LIMITED) == "250"


def test_memory_limit_in_bytes_by_default() -> None:
    assert value_of(resource("limits.memory"), LIMITED) == str(128 * 1024**2)


def test_memory_limit_with_mebibyte_divisor() -> None:
    assert value_of(resource("limits.memory", "1Mi"), LIMITED) == "128"


def test_memory_request_rounds_up_to_the_divisor() -> None:
    assert value_of(resource("requests.memory", "1G"), LIMITED) == "1"


def test_unset_memory_limit_is_node_allocatable() -> None:
    assert value_of(resource("limits.memory", "1Gi")) == "8"


def test_unset_cpu_limit_is_node_allocatable() -> None:
    assert value_of(resource("limits.cpu")) == "4"


def test_unset_ephemeral_storage_limit_is_node_allocatable() -> None:
    assert value_of(resource("limits.ephemeral-storage", "1Gi")) == "100"


def test_unset_request_is_zero() -> None:
    assert value_of(resource("requests.memory")) == "0"


def test_resource_of_a_named_container() -> None:
    sidecar = {"name": "side", "resources": {"limits": {"memory": "32Mi"}}}
    container = {"name": "c", "env": [resource("limits.memory", "1Mi", container_name="side")]}
    pod = make_pod(container, initContainers=[sidecar])
    assert dict(env_of(container, pod))["V"] == "32"


def test_resource_of_an_unknown_container_fails() -> None:
    assert (
        error_of({"name": "c", "env": [resource("limits.cpu", container_name="ghost")]}) == "container ghost not found"
    )


def test_unsupported_resource_fails() -> None:
    assert error_of({"name": "c", "env": [resource("limits.gpu")]}) == "unsupported container resource : limits.gpu"


# --- service variables --------------------------------------------------------------------------------------


def service(name: str, namespace: str, cluster_ip: str, port: int) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"clusterIP": cluster_ip, "ports": [{"port": port}]},
    }


SERVICES = {
    "default": [service("kubernetes", "default", "10.96.0.1", 443), service("other", "default", "10.96.0.9", 80)],
    "shop": [service("cart", "shop", "10.96.3.3", 8080)],
}


def services_of(namespace: str) -> list[dict[str, Any]]:
    return list(SERVICES.get(namespace, []))


def test_service_variables_come_first_with_the_kubernetes_service_for_any_namespace() -> None:
    env = env_of({"name": "c", "env": [{"name": "A", "value": "1"}]}, list_services=services_of)
    names = [name for name, _ in env]
    assert names[-1] == "A"
    assert dict(env)["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    assert dict(env)["CART_SERVICE_HOST"] == "10.96.3.3"
    assert dict(env)["CART_PORT_8080_TCP_ADDR"] == "10.96.3.3"
    assert "OTHER_SERVICE_HOST" not in names  # another namespace's Service


def test_without_service_links_only_the_kubernetes_service_is_given() -> None:
    container = {"name": "c"}
    env = dict(env_of(container, make_pod(container, enableServiceLinks=False), list_services=services_of))
    assert env["KUBERNETES_SERVICE_PORT"] == "443"
    assert not any(name.startswith("CART_") for name in env)


def test_a_containers_own_variable_wins_over_a_service_variable() -> None:
    env = env_of({"name": "c", "env": [{"name": "CART_SERVICE_HOST", "value": "mine"}]}, list_services=services_of)
    assert [value for name, value in env if name == "CART_SERVICE_HOST"] == ["mine"]
    assert env[-1] == ("CART_SERVICE_HOST", "mine")


def test_env_values_may_reference_service_variables() -> None:
    container = {"name": "c", "env": [{"name": "URL", "value": "http://$(CART_SERVICE_HOST):$(CART_SERVICE_PORT)/"}]}
    assert dict(env_of(container, list_services=services_of))["URL"] == "http://10.96.3.3:8080/"
