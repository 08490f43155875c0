"""Label and field selectors: the API server's syntax, matching rules, per-resource fields and error messages."""

from __future__ import annotations

from typing import Any

import pytest

from podrun.api.errors import ApiError
from podrun.api.selectors import parse_field_selector, parse_label_selector


def selects(selector: str, labels: dict[str, str] | None) -> bool:
    return parse_label_selector(selector).matches(labels)


def label_error(selector: str) -> str:
    with pytest.raises(ApiError) as caught:
        parse_label_selector(selector)
    assert caught.value.code == 400
    assert caught.value.reason == "BadRequest"
    return caught.value.message


def field_error(selector: str, resource: str = "") -> str:
    with pytest.raises(ApiError) as caught:
        parse_field_selector(selector, resource)
    assert caught.value.code == 400
    return caught.value.message


POD: dict[str, Any] = {
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {"nodeName": "node-1", "restartPolicy": "Always"},
    "status": {"phase": "Running", "podIPs": [{"ip": "10.88.0.5"}]},
}


# -- label selectors ---------------------------------------------------------------------------------------------


def test_an_empty_label_selector_selects_everything() -> None:
    assert parse_label_selector("").empty
    assert selects("", None)


def test_equality_selects_only_the_value() -> None:
    assert selects("app=web", {"app": "web"})
    assert selects("app==web", {"app": "web"})
    assert not selects("app=web", {"app": "db"})
    assert not selects("app=web", {})


def test_inequality_also_selects_objects_without_the_label() -> None:
    assert selects("app!=web", {"app": "db"})
    assert selects("app!=web", {})
    assert not selects("app!=web", {"app": "web"})


def test_in_selects_any_listed_value() -> None:
    assert selects("tier in (fe, be)", {"tier": "be"})
    assert not selects("tier in (fe,be)", {"tier": "db"})
    assert not selects("tier in (fe,be)", {})


def test_notin_also_selects_objects_without_the_label() -> None:
    assert selects("tier notin (fe)", {})
    assert selects("tier notin (fe)", {"tier": "be"})
    assert not selects("tier notin (fe)", {"tier": "fe"})


def test_a_bare_key_requires_the_label_and_a_bang_forbids_it() -> None:
    assert selects("app", {"app": ""})
    assert not selects("app", {})
    assert selects("!app", {})
    assert not selects("!app", {"app": "web"})


def test_requirements_are_anded() -> None:
    assert selects("app=web,!legacy,tier in (fe)", {"app": "web", "tier": "fe"})
    assert not selects("app=web,!legacy", {"app": "web", "legacy": "yes"})


def test_empty_values_in_a_set_are_kept() -> None:
    selector = parse_label_selector("x in (foo,,baz)")
    assert selector.requirements[0].values == ("", "baz", "foo")
    assert selects("x in (foo,,baz)", {"x": ""})


def test_keywords_are_plain_words_in_value_position() -> None:
    assert selects("in in (in)", {"in": "in"})


def test_gt_and_lt_compare_integers() -> None:
    assert selects("replicas>2", {"replicas": "3"})
    assert not selects("replicas>2", {"replicas": "two"})
    assert selects("replicas<2", {"replicas": "1"})


def test_prefixed_keys_are_accepted() -> None:
    assert selects("app.kubernetes.io/name=web", {"app.kubernetes.io/name": "web"})


def test_a_set_without_parentheses_is_refused_like_the_api_server() -> None:
    assert label_error("a in") == "unable to parse requirement: found '' expected: '('"


def test_trailing_words_are_refused() -> None:
    assert label_error("a=b c") == "found 'c', expected: ',' or 'end of string'"


def test_a_value_after_a_negated_key_is_refused() -> None:
    assert label_error("!a=b") == "found '=', expected: ',' or 'end of string'"


def test_a_dangling_comma_is_refused() -> None:
    assert label_error("a,") == "found '', expected: identifier after ','"


def test_an_unknown_operator_lists_the_binary_operators() -> None:
    assert label_error("a b") == "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"


def test_an_invalid_key_is_refused_with_the_validation_message() -> None:
    assert label_error("-a") == (
        'unable to parse requirement: <nil>: Invalid value: "-a": name part must consist of alphanumeric '
        "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or "
        "'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
    )


def test_an_invalid_value_is_refused_with_its_field_path() -> None:
    assert label_error("a=b$").startswith(
        'unable to parse requirement: values[0][a]: Invalid value: "b$": a valid label must be an empty string'
    )


def test_a_non_integer_for_gt_is_refused() -> None:
    assert label_error("a>x") == (
        "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be "
        "an integer"
    )


# -- field selectors ---------------------------------------------------------------------------------------------


def test_an_empty_field_selector_selects_everything() -> None:
    assert parse_field_selector("", "pods").empty
    assert parse_field_selector("", "pods").matches(POD)


def test_field_equality_and_inequality() -> None:
    assert parse_field_selector("metadata.name=web", "pods").matches(POD)
    assert parse_field_selector("metadata.name==web", "pods").matches(POD)
    assert not parse_field_selector("metadata.name!=web", "pods").matches(POD)
    assert parse_field_selector("status.phase!=Failed", "pods").matches(POD)


def test_field_terms_are_anded() -> None:
    assert parse_field_selector("metadata.name=web,spec.nodeName=node-1", "pods").matches(POD)
    assert not parse_field_selector("metadata.name=web,spec.nodeName=node-2", "pods").matches(POD)


def test_a_missing_field_reads_as_empty() -> None:
    assert parse_field_selector("spec.schedulerName=", "pods").matches(POD)
    assert parse_field_selector("status.nominatedNodeName!=x", "pods").matches(POD)


def test_escaped_commas_and_equals_are_part_of_the_value() -> None:
    obj = {"metadata": {"name": "a,b=c\\d"}}
    assert parse_field_selector(r"metadata.name=a\,b\=c\\d", "configmaps").matches(obj)


def test_an_unknown_escape_is_refused() -> None:
    assert field_error(r"metadata.name=a\x") == "invalid field selector: invalid escape sequence: \\x"


def test_an_unescaped_equals_in_a_value_is_refused_with_its_code_point() -> None:
    assert field_error("metadata.name=a=b") == "invalid field selector: unescaped character in value: 61"


def test_a_term_without_an_operator_is_refused() -> None:
    assert field_error("metadata.name") == "invalid selector: 'metadata.name'; can't understand 'metadata.name'"


def test_a_field_the_resource_does_not_support_is_refused() -> None:
    assert field_error("metadata.uid=x", "pods") == "field label not supported: metadata.uid"
    assert field_error("metadata.namespace=x", "namespaces") == "field label not supported: metadata.namespace"
    assert field_error("spec.nodeName=x", "configmaps") == "field label not supported: spec.nodeName"


def test_spec_host_is_the_old_name_of_spec_node_name() -> None:
    assert parse_field_selector("spec.host=node-1", "pods").matches(POD)


def test_pod_ip_is_read_from_pod_ips() -> None:
    assert parse_field_selector("status.podIP=10.88.0.5", "pods").matches(POD)


def test_host_network_defaults_to_false() -> None:
    assert parse_field_selector("spec.hostNetwork=false", "pods").matches(POD)
    host = {**POD, "spec": {"hostNetwork": True}}
    assert parse_field_selector("spec.hostNetwork=true", "pods").matches(host)


def test_describe_selects_events_by_involved_object() -> None:
    event = {
        "metadata": {"name": "web.1", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default", "uid": "u-1"},
    }
    selector = "involvedObject.name=web,involvedObject.namespace=default,involvedObject.uid=u-1"
    assert parse_field_selector(selector, "events").matches(event)
    assert not parse_field_selector("involvedObject.uid=u-2", "events").matches(event)


def test_event_source_falls_back_to_the_reporting_component() -> None:
    kubelet = {"metadata": {}, "source": {"component": "kubelet"}}
    reported = {"metadata": {}, "source": {}, "reportingComponent": "scheduler"}
    assert parse_field_selector("source=kubelet", "events").matches(kubelet)
    assert parse_field_selector("source=scheduler", "events").matches(reported)


def test_without_a_resource_any_path_is_read() -> None:
    assert parse_field_selector("spec.restartPolicy=Always").matches(POD)
