"""The ServiceAccount admission plugin's pod mutation (pure)."""

from __future__ import annotations

import pytest

from podrun.json_types import JSON
from podrun.services.accounts import (
    MOUNT_PATH,
    ServiceAccountNotFound,
    accounts_with_defaults,
    admit_pod,
)


def pod(**spec: object) -> JSON:
    return {
        "metadata": {"name": "p", "namespace": "app"},
        "spec": {"containers": [{"name": "c"}], "initContainers": [{"name": "i"}], **spec},
    }


def robot(**fields: object) -> JSON:
    return {"metadata": {"name": "robot", "namespace": "app"}, **fields}


def test_admission_names_the_default_account_and_mounts_the_token_everywhere() -> None:
    admitted = admit_pod(pod(), accounts_with_defaults([]), suffix="abcde")
    spec = admitted["spec"]
    assert spec["serviceAccountName"] == spec["serviceAccount"] == "default"
    assert spec["volumes"][0]["name"] == "kube-api-access-abcde"
    assert spec["volumes"][0]["projected"]["defaultMode"] == 420
    assert [s for source in spec["volumes"][0]["projected"]["sources"] for s in source] == [
        "serviceAccountToken", "configMap", "downwardAPI"
    ]  # fmt: skip
    for container in spec["containers"] + spec["initContainers"]:
        assert container["volumeMounts"] == [
            {"name": "kube-api-access-abcde", "readOnly": True, "mountPath": MOUNT_PATH}
        ]


def test_a_generated_volume_name_has_five_random_characters() -> None:
    [volume] = admit_pod(pod(), accounts_with_defaults([]))["spec"]["volumes"]
    assert volume["name"].startswith("kube-api-access-") and len(volume["name"]) == len("kube-api-access-") + 5


def test_a_missing_account_is_refused_with_the_api_servers_words() -> None:
    with pytest.raises(ServiceAccountNotFound) as caught:
        admit_pod(pod(serviceAccountName="robot"), accounts_with_defaults([]))
    assert str(caught.value) == 'error looking up service account app/robot: serviceaccount "robot" not found'


def test_a_named_account_from_the_lookup_is_used() -> None:
    admitted = admit_pod(pod(serviceAccountName="robot"), accounts_with_defaults([robot()]))
    assert admitted["spec"]["serviceAccount"] == "robot"
    assert admitted["spec"]["volumes"]


def test_the_deprecated_service_account_field_names_the_account() -> None:
    admitted = admit_pod(pod(serviceAccount="robot"), accounts_with_defaults([robot()]))
    assert admitted["spec"]["serviceAccountName"] == "robot"


def test_automount_false_on_the_pod_or_the_account_mounts_nothing() -> None:
    assert "volumes" not in admit_pod(pod(automountServiceAccountToken=False), accounts_with_defaults([]))["spec"]
    quiet = robot(automountServiceAccountToken=False)
    assert "volumes" not in admit_pod(pod(serviceAccountName="robot"), accounts_with_defaults([quiet]))["spec"]


def test_the_pods_choice_wins_over_the_accounts() -> None:
    quiet = robot(automountServiceAccountToken=False)
    spec = pod(serviceAccountName="robot", automountServiceAccountToken=True)
    assert admit_pod(spec, accounts_with_defaults([quiet]))["spec"]["volumes"]


def test_a_container_that_mounts_the_path_itself_keeps_its_mount() -> None:
    own = {"name": "mine", "mountPath": MOUNT_PATH}
    admitted = admit_pod(pod(containers=[{"name": "c", "volumeMounts": [own]}]), accounts_with_defaults([]))
    assert admitted["spec"]["containers"][0]["volumeMounts"] == [own]


def test_no_volume_is_added_when_every_container_mounts_the_path_itself() -> None:
    own = {"name": "mine", "mountPath": MOUNT_PATH}
    spec = pod(containers=[{"name": "c", "volumeMounts": [own]}], initContainers=[])
    assert "volumes" not in admit_pod(spec, accounts_with_defaults([]))["spec"]


def test_an_existing_kube_api_access_volume_is_reused() -> None:
    mine = {"name": "kube-api-access-mine", "emptyDir": {}}
    admitted = admit_pod(pod(volumes=[mine]), accounts_with_defaults([]))
    assert admitted["spec"]["volumes"] == [mine]
    assert admitted["spec"]["containers"][0]["volumeMounts"][0]["name"] == "kube-api-access-mine"


def test_the_accounts_image_pull_secrets_go_to_a_pod_without_its_own() -> None:
    pulling = robot(imagePullSecrets=[{"name": "registry"}])
    admitted = admit_pod(pod(serviceAccountName="robot"), accounts_with_defaults([pulling]))
    assert admitted["spec"]["imagePullSecrets"] == [{"name": "registry"}]
    own = pod(serviceAccountName="robot", imagePullSecrets=[{"name": "mine"}])
    assert admit_pod(own, accounts_with_defaults([pulling]))["spec"]["imagePullSecrets"] == [{"name": "mine"}]


def test_the_given_pod_is_left_unchanged() -> None:
    original = pod()
    admit_pod(original, accounts_with_defaults([]))
    assert original == pod()


def test_every_namespace_has_a_default_account_for_podrun_run() -> None:
    find = accounts_with_defaults([robot()])
    assert find("anywhere", "default") == {
        "kind": "ServiceAccount", "apiVersion": "v1", "metadata": {"name": "default", "namespace": "anywhere"}
    }  # fmt: skip
    assert find("app", "robot") == robot()
    assert find("other", "robot") is None
