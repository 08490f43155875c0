"""kubectl reads `/openapi/v2` (gnostic's protobuf form) to validate a `kind: List`, and before 1.29 for every apply.

kubectl 1.27 and 1.28 fetch the v2 document before any `apply` or `create` with validation on and fail without
it; later versions fetch it for Lists. The servers here report 1.27, 1.28 and 1.32, so the gcloud dispatcher runs
those kubectl versions.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml
from api_harness import KUBECTL, KUBECTL_DIR, Server, pod_manifest

from podrun.api.openapi_v2 import PROTOBUF_CONTENT_TYPE

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="needs kubectl (the google-cloud-cli kubectl package)")

V2_MINORS = [minor for minor in (27, 28, 32) if (KUBECTL_DIR / f"kubectl.1.{minor}").exists()]
PROTOBUF_ACCEPT = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"


@pytest.fixture(scope="module", params=V2_MINORS, ids=lambda minor: f"kubectl-1.{minor}")
def v2_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp(f"openapi-v2-1.{request.param}"), request.param)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def config_list(*maps: tuple[str, str]) -> str:
    """A `kind: List` of ConfigMaps, each with one `key` entry."""
    items = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"key": value}}
        for name, value in maps
    ]
    return yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items})


def test_apply_of_a_list_creates_then_configures_its_items(v2_server: Server) -> None:
    created = v2_server.kubectl("apply", "-f", "-", stdin=config_list(("one", "a"), ("two", "b")))
    assert created.stdout == "configmap/one created\nconfigmap/two created\n"
    configured = v2_server.kubectl("apply", "-f", "-", stdin=config_list(("one", "a"), ("two", "c")))
    assert configured.stdout == "configmap/one unchanged\nconfigmap/two configured\n"
    assert v2_server.kubectl("get", "configmap", "two", "-o", "jsonpath={.data.key}").stdout == "c"
    v2_server.kubectl("delete", "configmap", "one", "two")


def test_apply_of_a_pod_validates_without_turning_validation_off(v2_server: Server) -> None:
    name = f"v2-pod-{v2_server.version.split('.')[1]}"
    assert v2_server.kubectl("apply", "-f", "-", stdin=pod_manifest(name)).stdout == f"pod/{name} created\n"
    v2_server.kubectl("delete", "pod", name, "--wait=false")


def test_unknown_field_in_a_list_item_is_refused(v2_server: Server) -> None:
    bad = yaml.safe_load(config_list(("bad", "x")))
    bad["items"][0]["bogus"] = 1
    refused = v2_server.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(bad), check=False)
    assert refused.returncode == 1
    assert 'unknown field "bogus"' in refused.stderr


def test_openapi_v2_is_served_as_json_and_as_protobuf(v2_server: Server) -> None:
    as_json = v2_server.api("GET", "/openapi/v2")
    assert as_json.headers["Content-Type"] == "application/json"
    document = as_json.json()
    assert document["swagger"] == "2.0"
    patch = document["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert "fieldValidation" in [parameter["name"] for parameter in patch["parameters"]]
    assert "io.k8s.api.core.v1.PodSpec" in document["definitions"]

    as_protobuf = v2_server.api("GET", "/openapi/v2", headers={"Accept": f"{PROTOBUF_ACCEPT}, application/json"})
    assert as_protobuf.headers["Content-Type"] == PROTOBUF_CONTENT_TYPE
    assert as_protobuf.body.startswith(b"\x0a\x032.0")  # field 1 (swagger), length 3, "2.0"
    etag = as_protobuf.headers["ETag"]
    unchanged = v2_server.api("GET", "/openapi/v2", headers={"Accept": PROTOBUF_ACCEPT, "If-None-Match": etag})
    assert unchanged.status == 304
