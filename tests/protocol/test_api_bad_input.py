"""Malformed requests get the API server's 4xx Status, never a 500 (`api_harness.Server`, no kubectl)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import yaml
from api_harness import Response, Server, pod_manifest

DEEP = 10_000
PODS = "/api/v1/namespaces/default/pods"


def create_pod(server: Server, prefix: str) -> str:
    """Create a pod with a fresh name (the pods of earlier tests may still be terminating); return the name."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    assert server.api("POST", PODS, yaml.safe_load(pod_manifest(name))).status == 201
    return name


def delete_now(server: Server, name: str) -> None:
    server.api("DELETE", f"{PODS}/{name}", json.dumps({"gracePeriodSeconds": 0}).encode())


def delete_with_body(server: Server, name: str, body: bytes) -> Response:
    return server.api("DELETE", f"{PODS}/{name}", body)


def status_of(answer: Response) -> dict[str, Any]:
    body: dict[str, Any] = answer.json()
    assert body["kind"] == "Status", body
    return body


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"gracePeriodSeconds":"x"}',
            "json: cannot unmarshal string into Go struct field DeleteOptions.gracePeriodSeconds of type int64",
        ),
        (
            b'{"gracePeriodSeconds":1e999}',
            "json: cannot unmarshal number into Go struct field DeleteOptions.gracePeriodSeconds of type int64",
        ),
        (
            b'{"preconditions":"x"}',
            "json: cannot unmarshal string into Go struct field DeleteOptions.preconditions of type v1.Preconditions",
        ),
        (
            b'{"dryRun":"All"}',
            "json: cannot unmarshal string into Go struct field DeleteOptions.dryRun of type []string",
        ),
        (b"[]", "json: cannot unmarshal array into Go value of type v1.DeleteOptions"),
    ],
)
def test_delete_options_of_the_wrong_type_are_a_bad_request(server: Server, body: bytes, message: str) -> None:
    name = create_pod(server, "typed")
    answer = delete_with_body(server, name, body)
    assert answer.status == 400
    assert status_of(answer)["message"] == message
    assert server.api("GET", f"{PODS}/{name}").status == 200
    delete_now(server, name)


def test_unknown_propagation_policy_is_invalid(server: Server) -> None:
    name = create_pod(server, "sideways")
    answer = server.api("DELETE", f"{PODS}/{name}?propagationPolicy=Sideways")
    assert answer.status == 422
    status = status_of(answer)
    assert status["reason"] == "Invalid"
    assert status["message"] == (
        'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "Sideways": '
        'supported values: "Foreground", "Background", "Orphan", "nil"'
    )
    assert server.api("GET", f"{PODS}/{name}").status == 200
    delete_now(server, name)


def test_orphan_dependents_with_a_propagation_policy_is_invalid(server: Server) -> None:
    name = create_pod(server, "both")
    answer = delete_with_body(server, name, b'{"orphanDependents":true,"propagationPolicy":"Orphan"}')
    assert answer.status == 422
    assert "orphanDependents and deletionPropagation cannot be both set" in status_of(answer)["message"]
    delete_now(server, name)


def test_a_valid_propagation_policy_deletes(server: Server) -> None:
    name = create_pod(server, "foreground")
    answer = delete_with_body(server, name, b'{"propagationPolicy":"Foreground","gracePeriodSeconds":0}')
    assert answer.status == 200
    assert server.api("GET", f"{PODS}/{name}").status == 404


def test_a_grace_period_beyond_any_date_is_cut_to_68_years(server: Server) -> None:
    name = create_pod(server, "forever")
    answer = delete_with_body(server, name, json.dumps({"gracePeriodSeconds": 2**62}).encode())

    assert answer.status == 200
    assert answer.json()["metadata"]["deletionGracePeriodSeconds"] == 2**31 - 1
    delete_now(server, name)


def test_a_negative_grace_period_on_a_terminating_pod_means_one_second(server: Server) -> None:
    name = create_pod(server, "negative")
    assert delete_with_body(server, name, b'{"gracePeriodSeconds":30}').status == 200

    answer = delete_with_body(server, name, json.dumps({"gracePeriodSeconds": -(2**62)}).encode())

    assert answer.status == 200
    assert answer.json()["metadata"]["deletionGracePeriodSeconds"] == 1
    assert server.api("DELETE", f"{PODS}/{name}").status == 200  # the stored timestamp still reads back
    delete_now(server, name)


def deep_json() -> bytes:
    return b'{"metadata":{"name":"deep","labels":' + b"[" * DEEP + b"]" * DEEP + b"}}"


def deep_yaml() -> bytes:
    return b"metadata:\n  name: deep\n  labels: " + b"[" * DEEP + b"]" * DEEP + b"\n"


@pytest.mark.parametrize(
    ("method", "path", "content_type", "body"),
    [
        ("POST", PODS, "application/json", deep_json()),
        ("POST", PODS, "application/yaml", deep_yaml()),
        ("PATCH", PODS + "/{name}", "application/merge-patch+json", deep_json()),
        ("PATCH", PODS + "/{name}", "application/strategic-merge-patch+json", deep_json()),
        ("PATCH", PODS + "/{name}?fieldManager=test", "application/apply-patch+yaml", deep_yaml()),
    ],
    ids=["create-json", "create-yaml", "merge-patch", "strategic-merge-patch", "apply"],
)
def test_bodies_nested_too_deep_are_a_bad_request(
    server: Server, method: str, path: str, content_type: str, body: bytes
) -> None:
    name = create_pod(server, "nested")
    try:
        answer = server.api(method, path.format(name=name), body, headers={"Content-Type": content_type})
        assert answer.status == 400
        assert "exceeded max depth" in status_of(answer)["message"]
    finally:
        delete_now(server, name)
