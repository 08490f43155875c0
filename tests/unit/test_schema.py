"""The generated schemas: the list keys, Go types and field tables validation and server-side apply read."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

from podrun.model.schema import apply_unknown_fields, list_keys, type_error
from podrun.model.schema_data import field_types, schemas

GENERATOR = Path(__file__).parents[2] / "scripts" / "gen-schema"


def test_list_keys_are_the_list_map_keys_of_the_field() -> None:
    assert list_keys("Container", "ports") == ("containerPort", "protocol")
    assert list_keys("PodSpec", "containers") == ("name",)


def test_an_atomic_list_has_no_list_keys_even_when_its_element_type_is_keyed_elsewhere() -> None:
    assert list_keys("PodSpec", "imagePullSecrets") == ("name",)
    assert list_keys("ServiceAccount", "imagePullSecrets") == ()


def test_server_side_apply_names_list_elements_by_their_keys() -> None:
    pod = {"spec": {"containers": [{"name": "web", "ports": [{"containerPort": 80, "bogus": 1}]}]}}
    assert apply_unknown_fields("Pod", pod) == ['.spec.containers[name="web"].ports[containerPort=80].bogus']


def test_type_errors_name_the_go_struct_not_the_short_name_a_clash_gave_it() -> None:
    slice_ = {"ports": [{"port": "eighty"}]}
    assert type_error("EndpointSlice", slice_) == (
        "json: cannot unmarshal string into Go struct field EndpointPort.ports.port of type int32"
    )


def test_int64_fields_come_from_the_schema_format() -> None:
    pod = {"spec": {"activeDeadlineSeconds": "soon"}}
    assert type_error("Pod", pod) == (
        "json: cannot unmarshal string into Go struct field PodSpec.spec.activeDeadlineSeconds of type int64"
    )


def test_scalar_types_are_inlined_in_the_field_tables() -> None:
    assert field_types()["ObjectMeta"]["creationTimestamp"] == "time"
    assert field_types()["ResourceRequirements"]["limits"] == "{string}"
    assert field_types()["ContainerPort"]["containerPort"] == "integer"
    assert schemas()["ObjectMeta"]["name"] == "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def test_the_generator_keeps_the_closure_of_the_served_kinds_only(tmp_path: Path) -> None:
    definitions = {
        name: {"description": name, "properties": {}}
        for name in (
            "io.k8s.api.core.v1.ConfigMap",
            "io.k8s.api.core.v1.Secret",
            "io.k8s.api.core.v1.Namespace",
            "io.k8s.api.core.v1.Event",
            "io.k8s.api.core.v1.Node",
            "io.k8s.api.core.v1.Service",
            "io.k8s.api.core.v1.Endpoints",
            "io.k8s.api.core.v1.ServiceAccount",
            "io.k8s.api.discovery.v1.EndpointSlice",
            "io.k8s.api.apps.v1.Deployment",
        )
    }
    definitions["io.k8s.api.core.v1.Pod"] = {
        "description": "Pod",
        "required": ["spec"],
        "properties": {
            "spec": {"$ref": "#/definitions/io.k8s.api.core.v1.PodSpec", "description": "the spec"},
            "created": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Time"},
        },
    }
    definitions["io.k8s.api.core.v1.PodSpec"] = {"properties": {"n": {"type": "integer", "format": "int64"}}}
    definitions["io.k8s.apimachinery.pkg.apis.meta.v1.Time"] = {"type": "string", "format": "date-time"}
    swagger = tmp_path / "swagger.json"
    swagger.write_text(json.dumps({"definitions": definitions}))
    output = tmp_path / "schema.json.gz"
    subprocess.run([sys.executable, str(GENERATOR), str(swagger), str(output)], check=True, capture_output=True)
    types = json.loads(gzip.decompress(output.read_bytes()))["types"]
    assert "Deployment" not in types and "Time" not in types
    assert types["Pod"]["required"] == ["spec"]
    assert types["Pod"]["properties"]["spec"] == {"$ref": "PodSpec", "description": "the spec"}
    assert types["Pod"]["properties"]["created"] == {"type": "string", "format": "date-time", "podrunType": "time"}
