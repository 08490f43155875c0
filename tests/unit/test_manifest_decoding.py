"""podrun run decodes manifests as podrun serve does: a field of the wrong JSON type fails before anything runs.

The messages are those of the API server's decoder (and of serve, which calls the same `type_error`):
`Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal ...`.
"""

import json

import pytest

from podrun.model.manifest import MAX_DEPTH, ManifestError, load_manifests
from podrun.model.schema import type_error

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: app
    image: nginx:1.27
"""
CANNOT_DECODE = 'pod.yaml: document 1: Pod in version "v1" cannot be handled as a Pod: '


def problems(text: str) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        load_manifests([("pod.yaml", text)])
    return caught.value.messages


def test_command_of_booleans_is_a_decoding_error() -> None:
    assert problems(POD + "    command: [true]\n") == [
        CANNOT_DECODE + "json: cannot unmarshal bool into Go struct field Container.spec.containers.command "
        "of type string"
    ]


def test_numeric_env_value_is_a_decoding_error() -> None:
    assert problems(POD + "    env: [{name: A, value: 5}]\n") == [
        CANNOT_DECODE + "json: cannot unmarshal number into Go struct field EnvVar.spec.containers.env.value "
        "of type string"
    ]


def test_args_given_as_a_mapping_is_a_decoding_error() -> None:
    assert problems(POD + "    args: {a: 1}\n") == [
        CANNOT_DECODE + "json: cannot unmarshal object into Go struct field Container.spec.containers.args "
        "of type []string"
    ]


def test_numeric_working_dir_is_a_decoding_error() -> None:
    assert problems(POD + "    workingDir: 5\n") == [
        CANNOT_DECODE + "json: cannot unmarshal number into Go struct field Container.spec.containers.workingDir "
        "of type string"
    ]


def test_decoding_error_is_the_one_serve_reports() -> None:
    pod: dict[str, object] = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}}
    pod["spec"] = {"containers": [{"name": "app", "image": "nginx", "ports": [{"containerPort": "80"}]}]}
    mistyped = type_error("Pod", pod)
    assert mistyped is not None
    with pytest.raises(ManifestError) as caught:
        load_manifests([("pod.json", json.dumps(pod))])
    prefix = 'pod.json: document 1: Pod in version "v1" cannot be handled as a Pod'
    assert caught.value.messages == [f"{prefix}: {mistyped}"]


def test_numeric_quantities_decode() -> None:
    text = POD + "    resources:\n      limits: {cpu: 1, memory: 134217728}\n"
    limits = load_manifests([("pod.yaml", text)]).pods[0]["spec"]["containers"][0]["resources"]["limits"]
    assert limits == {"cpu": "1", "memory": "134217728"}


def test_resource_list_of_the_wrong_type_is_a_decoding_error() -> None:
    assert problems(POD + "    resources:\n      limits: 5\n") == [
        CANNOT_DECODE + "json: cannot unmarshal number into Go struct field ResourceRequirements.spec.containers"
        ".resources.limits of type v1.ResourceList"
    ]


def test_configmap_and_secret_are_type_checked_too() -> None:
    text = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nimmutable: 'yes'\n"
    with pytest.raises(ManifestError) as caught:
        load_manifests([("secret.yaml", text)])
    assert caught.value.messages == [
        'secret.yaml: document 1: Secret in version "v1" cannot be handled as a Secret: '
        "json: cannot unmarshal string into Go struct field Secret.immutable of type bool"
    ]


def test_yaml_nested_ten_thousand_levels_is_an_error() -> None:
    assert problems(POD + "    x: " + "[" * 10_000 + "]" * 10_000 + "\n") == [
        "pod.yaml: error converting YAML to JSON: yaml: line 9: exceeded maximum nesting depth"
    ]


def test_json_nested_ten_thousand_levels_is_an_error() -> None:
    text = '{"apiVersion": "v1", "kind": "Pod", "x": ' + "[" * 10_000 + "]" * 10_000 + "}"
    assert problems(text) == ["pod.yaml: error parsing JSON: nested too deeply"]


def test_nesting_the_parser_takes_but_deeper_than_the_limit_is_an_error() -> None:
    depth = MAX_DEPTH + 50
    text = '{"apiVersion": "v1", "kind": "Pod", "x": ' + "[" * depth + "]" * depth + "}"
    assert problems(text) == [f"pod.yaml: document 1: nested deeper than {MAX_DEPTH} levels"]
