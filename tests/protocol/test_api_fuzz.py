"""A fuzz target for the API: generated pods and DeleteOptions, valid or not, never get a 500.

Hypothesis builds pod manifests (sound ones with odd values, and arbitrary JSON in their fields) sent as JSON or
YAML, raw bodies, and DeleteOptions bodies and query parameters, against the in-process server of
`api_harness.Server`. Every answer must be below 500, and every error a well-formed `Status`. The examples are
derandomized and bounded (`max_examples`), so the suite runs the same few hundred requests every time, in seconds,
without root; raise `FUZZ_EXAMPLES` locally to search further.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from typing import Any

import yaml
from api_harness import Response, Server
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PODS = "/api/v1/namespaces/default/pods"
HELD = "fuzz-held"
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
any_json = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
dns_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
names = st.one_of(dns_label, st.text(max_size=300), st.just("a" * 253), st.just("a" * 254), any_json)
quantities = st.one_of(st.sampled_from(["100m", "1Gi", "0", "-1", "1e3", "1.5", "Ki", "1E", "9" * 40]), any_json)
ports = st.fixed_dictionaries(
    {"containerPort": st.one_of(st.integers(min_value=-10, max_value=70000), any_json)},
    optional={"protocol": st.one_of(st.sampled_from(["TCP", "UDP", "SCTP", "tcp"]), any_json), "name": names},
)
probes = st.fixed_dictionaries(
    {},
    optional={
        "exec": st.fixed_dictionaries({"command": st.lists(st.text(max_size=5), max_size=3)}),
        "httpGet": st.fixed_dictionaries({"port": st.one_of(st.integers(), st.text(max_size=8))}),
        "periodSeconds": st.one_of(st.integers(min_value=-5, max_value=2**40), any_json),
    },
)
containers = st.fixed_dictionaries(
    {"name": names, "image": st.one_of(st.sampled_from(["busybox", "nginx:1.27", ""]), any_json)},
    optional={
        "command": st.one_of(st.lists(st.text(max_size=10), max_size=3), any_json),
        "ports": st.one_of(st.lists(ports, max_size=3), any_json),
        "env": st.one_of(
            st.lists(st.fixed_dictionaries({"name": names}, optional={"value": st.text(max_size=10)}), max_size=3),
            any_json,
        ),
        "resources": st.fixed_dictionaries(
            {}, optional={"limits": st.dictionaries(st.sampled_from(["cpu", "memory", "x"]), quantities, max_size=2)}
        ),
        "livenessProbe": st.one_of(probes, any_json),
        "restartPolicy": st.one_of(st.just("Always"), any_json),
        "unknownField": any_json,
    },
)
specs = st.fixed_dictionaries(
    {"containers": st.one_of(st.lists(containers, min_size=1, max_size=2), any_json)},
    optional={
        "initContainers": st.lists(containers, max_size=2),
        "restartPolicy": st.one_of(st.sampled_from(["Always", "OnFailure", "Never", "Sometimes"]), any_json),
        "terminationGracePeriodSeconds": st.one_of(st.integers(min_value=-(2**64), max_value=2**64), any_json),
        "activeDeadlineSeconds": st.one_of(st.integers(min_value=-(2**64), max_value=2**64), any_json),
        "volumes": st.one_of(
            st.lists(st.fixed_dictionaries({"name": names}, optional={"emptyDir": any_json}), max_size=2), any_json
        ),
        "hostNetwork": any_json,
        "nodeName": names,
    },
)
metadata = st.fixed_dictionaries(
    {"name": names},
    optional={
        "namespace": st.one_of(st.just("default"), names),
        "labels": st.one_of(st.dictionaries(st.text(max_size=70), st.text(max_size=70), max_size=3), any_json),
        "annotations": st.one_of(st.dictionaries(st.text(max_size=20), st.text(max_size=20), max_size=2), any_json),
        "generateName": names,
        "resourceVersion": st.one_of(st.text(max_size=10), any_json),
        "uid": any_json,
    },
)
pods = st.fixed_dictionaries(
    {"metadata": st.one_of(metadata, any_json), "spec": st.one_of(specs, any_json)},
    optional={
        "apiVersion": st.one_of(st.just("v1"), any_json),
        "kind": st.one_of(st.just("Pod"), any_json),
        "status": any_json,
    },
)
delete_options = st.fixed_dictionaries(
    {},
    optional={
        "kind": st.one_of(st.just("DeleteOptions"), any_json),
        "apiVersion": st.one_of(st.sampled_from(["v1", "meta.k8s.io/v1"]), any_json),
        "gracePeriodSeconds": st.one_of(st.integers(min_value=-(2**64), max_value=2**64), any_json),
        "propagationPolicy": st.one_of(st.sampled_from(["Foreground", "Background", "Orphan", "x"]), any_json),
        "preconditions": st.one_of(
            st.fixed_dictionaries({}, optional={"uid": any_json, "resourceVersion": any_json}), any_json
        ),
        "dryRun": st.one_of(st.lists(st.sampled_from(["All", "None", ""]), max_size=2), any_json),
        "orphanDependents": any_json,
    },
)
query_values = st.one_of(st.sampled_from(["", "0", "-1", "30", "All", "Strict", "true", "x"]), st.text(max_size=8))
queries = st.dictionaries(
    st.sampled_from(["gracePeriodSeconds", "dryRun", "propagationPolicy", "fieldValidation", "fieldManager"]),
    query_values,
    max_size=3,
)


def assert_well_formed(answer: Response) -> None:
    """Below 500; an error is a `Status` whose code is the answer's."""
    assert answer.status < 500, answer.body[:2000]
    if answer.status >= 400:
        status = answer.json()
        assert (status["kind"], status["apiVersion"], status["status"]) == ("Status", "v1", "Failure"), status
        assert status["code"] == answer.status, status
        assert isinstance(status["message"], str), status
    elif answer.body:
        json.loads(answer.body)


def as_body(document: Any, language: str) -> tuple[bytes, str]:
    if language == "yaml":
        return yaml.safe_dump(document).encode(), "application/yaml"
    return json.dumps(document).encode(), "application/json"


@FUZZ
@given(pod=pods, language=st.sampled_from(["json", "yaml"]), query=queries)
def test_creating_any_pod_answers_below_500_with_a_status(
    server: Server, pod: Any, language: str, query: dict[str, str]
) -> None:
    body, content_type = as_body(pod, language)
    path = f"{PODS}?{urllib.parse.urlencode(query)}"
    assert_well_formed(server.api("POST", path, body, headers={"Content-Type": content_type}))


@FUZZ
@given(body=st.binary(max_size=200), content_type=st.sampled_from(["application/json", "application/yaml"]))
def test_any_bytes_as_a_pod_answer_below_500_with_a_status(server: Server, body: bytes, content_type: str) -> None:
    assert_well_formed(server.api("POST", PODS, body, headers={"Content-Type": content_type}))


@FUZZ
@given(options=st.one_of(delete_options, any_json), query=queries, held=st.booleans())
def test_deleting_with_any_delete_options_answers_below_500_with_a_status(
    server: Server, options: Any, query: dict[str, str], held: bool
) -> None:
    name = HELD if held else "fuzz-absent"
    if held:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": HELD, "labels": {"hold": "true"}},
            "spec": {"containers": [{"name": "main", "image": "busybox"}]},
        }
        assert server.api("POST", PODS, pod).status in (201, 409)
    path = f"{PODS}/{name}?{urllib.parse.urlencode(query)}"
    assert_well_formed(server.api("DELETE", path, json.dumps(options).encode()))
