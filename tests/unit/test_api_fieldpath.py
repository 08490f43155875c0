"""Field sets and their FieldsV1 encoding, as structured-merge-diff's fieldpath package writes them."""

from __future__ import annotations

import pytest

from podrun.api import fieldpath
from podrun.api.fieldpath import field, index, key, value


def test_a_key_element_lists_its_fields_sorted_by_name_as_compact_json() -> None:
    assert key({"protocol": "TCP", "containerPort": 80}) == 'k:{"containerPort":80,"protocol":"TCP"}'


def test_value_and_index_elements() -> None:
    assert (value("example.com/x"), index(3)) == ('v:"example.com/x"', "i:3")


def test_json_in_elements_escapes_html_characters_as_go_does() -> None:
    assert value("a<b>&") == 'v:"a\\u003cb\\u003e\\u0026"'


def test_fields_v1_marks_members_with_children_by_a_dot_first() -> None:
    paths = frozenset(
        {
            fieldpath.path("metadata", "labels"),
            fieldpath.path("metadata", "labels", "app"),
            fieldpath.path("data", "key"),
        }
    )
    document = fieldpath.to_fields_v1(paths)
    assert document == {"f:data": {"f:key": {}}, "f:metadata": {"f:labels": {".": {}, "f:app": {}}}}
    assert list(document["f:metadata"]["f:labels"]) == [".", "f:app"]


def test_fields_v1_orders_fields_before_keys_before_values() -> None:
    parent = fieldpath.path("spec")
    paths = frozenset({(*parent, value("x")), (*parent, key({"name": "a"})), (*parent, field("b"))})
    assert list(fieldpath.to_fields_v1(paths)["f:spec"]) == ["f:b", 'k:{"name":"a"}', 'v:"x"']


def test_fields_v1_round_trips() -> None:
    document = {
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {"f:containers": {'k:{"name":"web"}': {".": {}, "f:image": {}, "f:name": {}}}},
    }
    assert fieldpath.to_fields_v1(fieldpath.from_fields_v1(document)) == document


def test_a_malformed_fields_v1_document_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown path element"):
        fieldpath.from_fields_v1({"x:y": {}})


def test_paths_print_as_conflicts_name_them() -> None:
    ports = (*fieldpath.path("spec", "containers"), key({"name": "web"}), field("ports"))
    port = (*ports, key({"containerPort": 80, "protocol": "TCP"}))
    assert fieldpath.path_string(port) == '.spec.containers[name="web"].ports[containerPort=80,protocol="TCP"]'
    finalizer = (*fieldpath.path("metadata", "finalizers"), value("a"))
    assert fieldpath.path_string(finalizer) == '.metadata.finalizers[="a"]'


def test_minimal_paths_are_those_without_an_ancestor_in_the_set() -> None:
    labels = fieldpath.path("metadata", "labels")
    assert fieldpath.minimal({labels, (*labels, field("a")), fieldpath.path("data")}) == [
        fieldpath.path("data"),
        labels,
    ]


def test_field_prefix_closure_and_recursive_difference() -> None:
    leaf = fieldpath.path("spec", "containers")
    assert fieldpath.with_field_prefixes({leaf}) == {fieldpath.path("spec"), leaf}
    assert fieldpath.without_prefixes(frozenset({leaf, fieldpath.path("data")}), [fieldpath.path("spec")]) == {
        fieldpath.path("data")
    }


def test_owning_a_field_inside_a_list_element_does_not_hold_the_element() -> None:
    element = (*fieldpath.path("spec", "containers"), key({"name": "a"}))
    closed = fieldpath.with_field_prefixes({(*element, field("image"))})
    assert fieldpath.path("spec", "containers") in closed and element not in closed
