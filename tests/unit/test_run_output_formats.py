"""`podrun run -o json|yaml|name`: the final pods as `kubectl get -o` prints them."""

from __future__ import annotations

import json

import yaml

from podrun.cli.run import format_pods

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}, "status": {"phase": "Succeeded"}}
OTHER = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "db"}, "status": {"phase": "Failed"}}


def test_one_pod_is_printed_as_the_object_itself() -> None:
    assert json.loads(format_pods([POD], "json")) == POD


def test_several_pods_are_printed_as_a_list() -> None:
    doc = yaml.safe_load(format_pods([POD, OTHER], "yaml"))

    assert doc["kind"] == "List" and [item["metadata"]["name"] for item in doc["items"]] == ["web", "db"]


def test_name_prints_one_resource_name_per_line() -> None:
    assert format_pods([POD, OTHER], "name") == "pod/web\npod/db\n"
