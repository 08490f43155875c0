"""`kubectl explain` reads upstream's descriptions, types and required fields from podrun's OpenAPI documents.

kubectl of the served minor (1.32) reads the v3 documents; with `--output=plaintext-openapiv2` it reads the v2
document (in gnostic's protobuf form) instead.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_harness import KUBECTL, Server

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="needs kubectl (the google-cloud-cli kubectl package)")

IMAGE_DESCRIPTION = "Container image name. More info: https://kubernetes.io/docs/concepts/containers/images"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    served = Server(tmp_path_factory.mktemp("explain"), 32)
    served.start()
    try:
        yield served
    finally:
        served.stop()


def explain(server: Server, *args: str) -> str:
    """kubectl's explanation, its lines joined: kubectl wraps descriptions at 80 columns."""
    return " ".join(server.kubectl("explain", *args).stdout.split())


def test_explain_of_a_field_prints_upstreams_description(server: Server) -> None:
    output = explain(server, "pods.spec.containers.image")
    assert "FIELD: image <string>" in output
    assert IMAGE_DESCRIPTION in output
    assert "<no description>" not in output


def test_explain_of_a_kind_names_its_group_version_and_describes_it(server: Server) -> None:
    output = explain(server, "pod")
    assert "KIND: Pod VERSION: v1" in output
    assert "Pod is a collection of containers that can run on a host." in output
    assert "spec <PodSpec>" in output


def test_explain_recursive_lists_nested_fields(server: Server) -> None:
    output = explain(server, "pod", "--recursive")
    assert "containers <[]Container> -required-" in output
    assert "image <string>" in output
    assert "<empty>" not in output


def test_explain_marks_required_fields(server: Server) -> None:
    output = explain(server, "services.spec.ports")
    assert "port <integer> -required-" in output
    assert "The port that will be exposed by this service." in output


def test_explain_of_an_endpoint_slice_names_its_group(server: Server) -> None:
    output = explain(server, "endpointslices.endpoints.addresses")
    assert "GROUP: discovery.k8s.io" in output
    assert "addresses of this endpoint. The contents of this field are interpreted according to" in output


def test_explain_from_openapi_v2_prints_upstreams_description(server: Server) -> None:
    output = explain(server, "pods.spec.containers.image", "--output=plaintext-openapiv2")
    assert "FIELD: image <string>" in output
    assert IMAGE_DESCRIPTION in output


def test_explain_from_openapi_v2_marks_required_fields(server: Server) -> None:
    output = explain(server, "services.spec.ports", "--output=plaintext-openapiv2")
    assert "port <integer> -required-" in output


def test_openapi_v3_schemas_carry_upstreams_extensions(server: Server) -> None:
    schemas = server.api("GET", "/openapi/v3/api/v1").json()["components"]["schemas"]
    pod = schemas["io.k8s.api.core.v1.Pod"]
    assert pod["x-kubernetes-group-version-kind"] == [{"group": "", "kind": "Pod", "version": "v1"}]
    ports = schemas["io.k8s.api.core.v1.Container"]["properties"]["ports"]
    assert ports["x-kubernetes-patch-strategy"] == "merge"
    assert ports["x-kubernetes-patch-merge-key"] == "containerPort"
    assert ports["x-kubernetes-list-map-keys"] == ["containerPort", "protocol"]
    assert ports["items"] == {"allOf": [{"$ref": "#/components/schemas/io.k8s.api.core.v1.ContainerPort"}]}
    assert schemas["io.k8s.api.core.v1.ContainerPort"]["required"] == ["containerPort"]
