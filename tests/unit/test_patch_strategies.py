"""Strategic merge patch takes its strategies and merge keys from upstream's schemas (`podrun.model.schema_data`)."""

from __future__ import annotations

from podrun.api.patch import strategic_merge_patch


def test_a_list_with_a_merge_key_upstream_merges_by_it() -> None:
    namespace = {"status": {"conditions": [{"type": "A", "status": "True"}, {"type": "B", "status": "True"}]}}
    patch = {"status": {"conditions": [{"type": "B", "status": "False"}]}}
    merged = strategic_merge_patch(namespace, patch, "Namespace")
    assert merged["status"]["conditions"] == [{"type": "A", "status": "True"}, {"type": "B", "status": "False"}]


def test_a_list_upstream_declares_atomic_is_replaced_even_when_the_same_element_type_merges_elsewhere() -> None:
    account = {"imagePullSecrets": [{"name": "one"}], "secrets": [{"name": "one"}]}
    patch = {"imagePullSecrets": [{"name": "two"}], "secrets": [{"name": "two"}]}
    merged = strategic_merge_patch(account, patch, "ServiceAccount")
    assert merged["imagePullSecrets"] == [{"name": "two"}]
    assert sorted(secret["name"] for secret in merged["secrets"]) == ["one", "two"]


def test_a_kind_without_a_schema_merges_its_metadata_by_object_meta() -> None:
    original = {"metadata": {"finalizers": ["a"]}, "spec": {"items": [1]}}
    merged = strategic_merge_patch(original, {"metadata": {"finalizers": ["b"]}, "spec": {"items": [2]}}, "Widget")
    assert sorted(merged["metadata"]["finalizers"]) == ["a", "b"]
    assert merged["spec"] == {"items": [2]}
