"""Finalizers hold deleted objects until they are removed, as the real kubectl sees it (`api_harness.Server`).

A pod's graceful deletion ends when its kubelet reports it terminated (the fake kubelet does, through the real
`StoreHost`): without finalizers it disappears; with them it stays, with its `deletionTimestamp` and no grace left,
until the last one is removed.
"""

from __future__ import annotations

import json

import pytest
import yaml
from api_harness import KUBECTL, Server, pod_manifest, wait_until

from podrun.json_types import JSON

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="needs kubectl (the google-cloud-cli kubectl package)")

FINALIZER = "example.com/keep"
REMOVE_FINALIZERS = '[{"op": "remove", "path": "/metadata/finalizers"}]'


def get(server: Server, kind: str, name: str) -> JSON | None:
    answer = server.kubectl("get", kind, name, "-o", "json", check=False)
    return json.loads(answer.stdout) if answer.returncode == 0 else None


def with_finalizer(manifest: str) -> str:
    obj = yaml.safe_load(manifest)
    obj["metadata"]["finalizers"] = [FINALIZER]
    return yaml.safe_dump(obj)


def test_a_terminated_pod_with_a_finalizer_stays_until_it_is_removed(server: Server) -> None:
    server.kubectl("apply", "-f", "-", stdin=with_finalizer(pod_manifest("kept")))
    server.kubectl("wait", "--for=condition=Ready", "pod/kept", "--timeout=20s")
    server.kubectl("delete", "pod", "kept", "--wait=false")

    def terminated() -> bool:
        pod = get(server, "pod", "kept")
        assert pod is not None, "the pod went despite its finalizer"
        return pod["metadata"].get("deletionGracePeriodSeconds") == 0

    wait_until(terminated)
    pod = get(server, "pod", "kept")
    assert pod is not None
    assert pod["metadata"]["deletionTimestamp"]
    assert pod["metadata"]["finalizers"] == [FINALIZER]
    assert pod["status"]["phase"] == "Running"  # the last status the kubelet wrote

    server.kubectl("patch", "pod", "kept", "--type=json", "-p", REMOVE_FINALIZERS)
    assert get(server, "pod", "kept") is None


def test_a_terminated_pod_without_finalizers_disappears(server: Server) -> None:
    server.kubectl("apply", "-f", "-", stdin=pod_manifest("gone"))
    server.kubectl("wait", "--for=condition=Ready", "pod/gone", "--timeout=20s")
    server.kubectl("delete", "pod", "gone", "--timeout=20s")
    assert get(server, "pod", "gone") is None


def test_a_deleted_configmap_with_a_finalizer_stays_until_it_is_removed(server: Server) -> None:
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kept-cm"}, "data": {"a": "b"}}
    server.kubectl("apply", "-f", "-", stdin=with_finalizer(yaml.safe_dump(configmap)))
    server.kubectl("delete", "configmap", "kept-cm", "--wait=false")
    held = get(server, "configmap", "kept-cm")
    assert held is not None and held["metadata"]["deletionTimestamp"]
    server.kubectl("patch", "configmap", "kept-cm", "--type=json", "-p", REMOVE_FINALIZERS)
    assert get(server, "configmap", "kept-cm") is None


def test_an_object_being_deleted_gains_no_new_finalizer(server: Server) -> None:
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "closing-cm"}, "data": {"a": "b"}}
    server.kubectl("apply", "-f", "-", stdin=with_finalizer(yaml.safe_dump(configmap)))
    server.kubectl("delete", "configmap", "closing-cm", "--wait=false")
    added = json.dumps({"metadata": {"finalizers": [FINALIZER, "example.com/late"]}})

    answer = server.kubectl("patch", "configmap", "closing-cm", "--type=merge", "-p", added, check=False)

    assert answer.returncode != 0
    assert answer.stderr.strip() == (
        'The ConfigMap "closing-cm" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if '
        'the object is being deleted, found new finalizers []string{"example.com/late"}'
    )
    held = get(server, "configmap", "closing-cm")
    assert held is not None and held["metadata"]["finalizers"] == [FINALIZER]
    server.kubectl("patch", "configmap", "closing-cm", "--type=json", "-p", REMOVE_FINALIZERS)


def test_an_object_being_deleted_may_lose_a_finalizer(server: Server) -> None:
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "losing-cm"}, "data": {"a": "b"}}
    obj = yaml.safe_load(with_finalizer(yaml.safe_dump(configmap)))
    obj["metadata"]["finalizers"].append("example.com/other")
    server.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(obj))
    server.kubectl("delete", "configmap", "losing-cm", "--wait=false")

    server.kubectl("patch", "configmap", "losing-cm", "--type=json", "-p",
                   '[{"op": "remove", "path": "/metadata/finalizers/1"}]')  # fmt: skip

    held = get(server, "configmap", "losing-cm")
    assert held is not None and held["metadata"]["finalizers"] == [FINALIZER]
    server.kubectl("patch", "configmap", "losing-cm", "--type=json", "-p", REMOVE_FINALIZERS)
