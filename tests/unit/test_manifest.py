"""Loading manifests: documents, kinds, decoding, duplicates and validation, all before anything runs."""

import json
import textwrap

import pytest

from podrun.model.errors import InvalidError
from podrun.model.manifest import ManifestError, load_manifests

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
CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: fast
"""
SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: creds
stringData:
  password: hunter2
"""
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
"""


def problems(*texts: tuple[str, str]) -> list[str]:
    with pytest.raises(ManifestError) as info:
        load_manifests(texts)
    return info.value.messages


def test_pod_is_loaded_defaulted() -> None:
    loaded = load_manifests([("pod.yaml", POD)])
    assert [pod["metadata"]["namespace"] for pod in loaded.pods] == ["default"]
    assert loaded.pods[0]["spec"]["restartPolicy"] == "Always"


def test_documents_are_sorted_by_kind() -> None:
    loaded = load_manifests([("app.yaml", "---\n".join([POD, CONFIGMAP, SECRET]))])
    names = [[obj["metadata"]["name"] for obj in group] for group in (loaded.pods, loaded.configmaps, loaded.secrets)]
    assert names == [["web"], ["settings"], ["creds"]]


def test_secret_is_loaded_with_base64_data() -> None:
    assert load_manifests([("s.yaml", SECRET)]).secrets[0]["data"] == {"password": "aHVudGVyMg=="}


def test_service_accounts_are_loaded_into_their_namespace() -> None:
    account = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: robot}\nautomountServiceAccountToken: false\n"
    [loaded] = load_manifests([("sa.yaml", account)]).service_accounts
    assert loaded["metadata"] == {"name": "robot", "namespace": "default"}
    assert loaded["automountServiceAccountToken"] is False


def test_a_service_account_with_an_invalid_name_is_refused() -> None:
    with pytest.raises(InvalidError) as info:
        load_manifests([("sa.yaml", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: Robot_1}\n")])
    assert info.value.message.startswith('ServiceAccount "Robot_1" is invalid: metadata.name: Invalid value')


def test_empty_documents_are_skipped() -> None:
    loaded = load_manifests([("app.yaml", f"---\n---\n{POD}---\n# nothing here\n")])
    assert len(loaded.pods) == 1


def test_empty_source_loads_nothing() -> None:
    loaded = load_manifests([("empty.yaml", "")])
    assert (loaded.pods, loaded.configmaps, loaded.secrets) == ([], [], [])


def test_json_manifest_is_loaded() -> None:
    text = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}})
    assert load_manifests([("cm.json", text)]).configmaps[0]["metadata"]["name"] == "settings"


def test_stream_of_json_objects_is_loaded() -> None:
    one = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "one"}}
    two = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "two"}}
    loaded = load_manifests([("cm.json", f"{json.dumps(one)}\n{json.dumps(two)}")])
    assert [cm["metadata"]["name"] for cm in loaded.configmaps] == ["one", "two"]


def test_list_items_are_loaded() -> None:
    text = textwrap.dedent(
        """\
        apiVersion: v1
        kind: List
        items:
        - apiVersion: v1
          kind: ConfigMap
          metadata: {name: one}
        - apiVersion: v1
          kind: Secret
          metadata: {name: two}
        """
    )
    loaded = load_manifests([("list.yaml", text)])
    assert (len(loaded.configmaps), len(loaded.secrets)) == (1, 1)


def test_typed_list_items_take_the_list_kind() -> None:
    text = "apiVersion: v1\nkind: ConfigMapList\nitems:\n- metadata: {name: one}\n"
    assert load_manifests([("list.yaml", text)]).configmaps[0]["kind"] == "ConfigMap"


def test_unsupported_kind_is_named_with_its_source() -> None:
    assert problems(("pod.yaml", f"{POD}---\n{DEPLOYMENT}")) == [
        'pod.yaml: document 2: kind "Deployment" (apps/v1) is not supported by podrun: '
        "only Pod, ConfigMap, Secret, Service and ServiceAccount; run it on a real Kubernetes cluster"
    ]


def test_unsupported_kind_inside_a_list_names_the_item() -> None:
    text = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: apps/v1, kind: Deployment, metadata: {name: web}}\n"
    assert problems(("list.yaml", text)) == [
        'list.yaml: document 1: items[0]: kind "Deployment" (apps/v1) is not supported by podrun: '
        "only Pod, ConfigMap, Secret, Service and ServiceAccount; run it on a real Kubernetes cluster"
    ]


def test_missing_api_version_and_kind_are_reported() -> None:
    assert problems(("x.yaml", "metadata:\n  name: web\n")) == [
        "x.yaml: document 1: error validating data: [apiVersion not set, kind not set]"
    ]


def test_supported_kind_in_another_version_has_no_match() -> None:
    assert problems(("pod.yaml", POD.replace("apiVersion: v1", "apiVersion: v2"))) == [
        'pod.yaml: document 1: no matches for kind "Pod" in version "v2"'
    ]


def test_document_that_is_not_a_mapping_is_rejected() -> None:
    assert problems(("x.yaml", "- a\n- b\n")) == [
        "x.yaml: document 1: not a Kubernetes object (a mapping with apiVersion and kind)"
    ]


def test_yaml_syntax_error_names_source_and_line() -> None:
    assert problems(("bad.yaml", "metadata:\n  name: [web\n")) == [
        "bad.yaml: error converting YAML to JSON: yaml: line 3: did not find expected ',' or ']'"
    ]


def test_repeated_yaml_key_is_an_error() -> None:
    assert problems(("pod.yaml", POD + "metadata:\n  name: api\n")) == [
        'pod.yaml: error converting YAML to JSON: yaml: line 9: key "metadata" already set in map'
    ]


def test_yaml_dates_stay_strings() -> None:
    text = POD.replace("  name: web\n", "  name: web\n  labels:\n    release: 2024-01-01\n")
    assert load_manifests([("pod.yaml", text)]).pods[0]["metadata"]["labels"] == {"release": "2024-01-01"}


def test_undecodable_quantity_is_reported_like_the_api_server() -> None:
    text = POD + "    resources:\n      limits:\n        cpu: one\n"
    assert problems(("pod.yaml", text)) == [
        'pod.yaml: document 1: Pod in version "v1" cannot be handled as a Pod: quantities must match the regular '
        "expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    ]


def test_numeric_configmap_value_is_reported_like_the_api_server() -> None:
    assert problems(("cm.yaml", CONFIGMAP.replace("mode: fast", "port: 8080"))) == [
        'cm.yaml: document 1: ConfigMap in version "v1" cannot be handled as a ConfigMap: '
        "json: cannot unmarshal number into Go struct field ConfigMap.data of type string"
    ]


def test_problems_from_every_source_are_reported_together() -> None:
    assert problems(("a.yaml", DEPLOYMENT), ("b.yaml", "kind: Pod\n")) == [
        'a.yaml: document 1: kind "Deployment" (apps/v1) is not supported by podrun: '
        "only Pod, ConfigMap, Secret, Service and ServiceAccount; run it on a real Kubernetes cluster",
        "b.yaml: document 1: error validating data: [apiVersion not set]",
    ]


def test_same_object_twice_already_exists() -> None:
    assert problems(("a.yaml", POD), ("b.yaml", POD)) == [
        'b.yaml: document 1: pods "web" already exists (also defined in a.yaml: document 1)'
    ]


def test_same_name_in_another_namespace_is_another_object() -> None:
    other = POD.replace("  name: web\n", "  name: web\n  namespace: team\n")
    assert len(load_manifests([("a.yaml", POD), ("b.yaml", other)]).pods) == 2


def test_generate_name_gets_a_name() -> None:
    text = POD.replace("  name: web\n", "  generateName: web-\n")
    name = load_manifests([("pod.yaml", text)]).pods[0]["metadata"]["name"]
    assert name.startswith("web-") and len(name) == len("web-") + 5


def test_invalid_pod_raises_the_kubernetes_invalid_error() -> None:
    with pytest.raises(InvalidError) as info:
        load_manifests([("pod.yaml", POD.replace("    image: nginx:1.27\n", ""))])
    assert str(info.value) == 'Pod "web" is invalid: spec.containers[0].image: Required value'


def test_invalid_error_remembers_its_source() -> None:
    with pytest.raises(InvalidError) as info:
        load_manifests([("cm.yaml", CONFIGMAP.replace("mode: fast", "bad key: x"))])
    assert info.value.source == "cm.yaml"


def test_structural_problems_are_reported_before_validation() -> None:
    invalid_pod = POD.replace("    image: nginx:1.27\n", "")
    with pytest.raises(ManifestError):
        load_manifests([("pod.yaml", invalid_pod), ("d.yaml", DEPLOYMENT)])


def test_pod_warnings_are_collected() -> None:
    text = POD + "    ports:\n    - containerPort: 80\n    - containerPort: 80\n"
    assert load_manifests([("pod.yaml", text)]).warnings == [
        "spec.containers[0].ports[1]: duplicate port definition with spec.containers[0].ports[0]"
    ]
