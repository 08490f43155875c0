"""YAML as Kubernetes reads it, and documents that expand (alias bombs) refused before they are built."""

from __future__ import annotations

import contextlib
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from podrun.api.errors import ApiError
from podrun.api.wire import decode
from podrun.model.manifest import ManifestError, load_manifests
from podrun.model.yaml_decode import (
    ExpandingDocumentError,
    KubernetesLoader,
    StrictKubernetesLoader,
    allowed_alias_ratio,
    load,
    load_all_strict,
)

MIB = 1024 * 1024
PODRUN = Path(sys.executable).parent / "podrun"


def alias_bomb(levels: int, fan_out: int = 10) -> str:
    """A few hundred bytes that expand to fan_out**levels scalars when every alias is copied."""
    lines = ["a0: &a0 [" + ", ".join(["lol"] * fan_out) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fan_out) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def peak_rss_growth(action: Callable[[], object]) -> int:
    """How many bytes the process's peak resident set grew by while `action()` ran (it may raise)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with contextlib.suppress(ExpandingDocumentError, ApiError, ManifestError):
        action()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024


def test_go_yaml_allows_99_percent_aliases_in_small_documents_and_10_percent_in_huge_ones() -> None:
    assert allowed_alias_ratio(1000) == 0.99
    assert allowed_alias_ratio(4_000_000) == pytest.approx(0.10)
    assert allowed_alias_ratio(2_200_000) == pytest.approx(0.545)


def test_an_alias_bomb_is_refused_as_excessive_aliasing() -> None:
    with pytest.raises(ExpandingDocumentError, match="document contains excessive aliasing"):
        load(alias_bomb(levels=9))


def test_an_alias_bomb_of_a_hundred_million_nodes_costs_no_memory() -> None:
    bomb = alias_bomb(levels=8)  # 10**8 scalars, about 1 GB per 10**7 when expanded
    assert len(bomb) < 600
    assert peak_rss_growth(lambda: load(bomb)) < 20 * MIB


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML built without libyaml")
def test_manifests_and_bodies_are_parsed_by_libyaml_so_the_guard_runs_on_its_nodes() -> None:
    assert issubclass(KubernetesLoader, yaml.CSafeLoader) and issubclass(StrictKubernetesLoader, yaml.CSafeLoader)
    with pytest.raises(ExpandingDocumentError, match="excessive aliasing"):
        list(load_all_strict(alias_bomb(9)))


def test_an_anchor_that_contains_itself_is_refused() -> None:
    with pytest.raises(ExpandingDocumentError, match="anchor value contains itself"):
        load("spec: &spec\n  again: *spec\n")


def test_aliases_for_repeated_parts_of_a_pod_are_fine() -> None:
    text = (
        "env: &env [{name: A, value: '1'}, {name: B, value: '2'}]\n"
        "containers:\n- {name: a, env: *env}\n- {name: b, env: *env}\n"
        "labels: &labels {app: web}\nselector: {<<: *labels, tier: front}\n"
    )
    data = load(text)
    assert data["containers"][1]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert data["selector"] == {"app": "web", "tier": "front"}


def test_a_document_that_expands_beyond_the_request_body_limit_is_refused() -> None:
    text = f"big: &big '{'x' * MIB}'\ncopies: [*big, *big, *big]\n"
    with pytest.raises(ExpandingDocumentError, match="larger than 3145728 bytes"):
        load(text)


def test_keys_are_strings_and_timestamps_stay_strings_as_sigs_k8s_io_yaml_reads_them() -> None:
    data = load("1: one\ntrue: yes\nnull: none\nwhen: 2024-01-02T03:04:05Z\n")
    assert data == {"1": "one", "true": True, "null": "none", "when": "2024-01-02T03:04:05Z"}


def test_binary_is_its_decoded_text_and_a_set_is_a_mapping_to_nulls() -> None:
    assert load("data: !!binary aGVsbG8=\nkeys: !!set {a, b}\n") == {"data": "hello", "keys": {"a": None, "b": None}}


def test_a_mapping_as_a_key_is_an_invalid_map_key() -> None:
    with pytest.raises(Exception, match="invalid map key"):
        load("{[1]: 2}")


def test_a_repeated_key_wins_in_a_request_and_is_an_error_in_a_manifest() -> None:
    assert load("a: 1\na: 2\n") == {"a": 2}
    with pytest.raises(Exception, match='key "a" already set in map'):
        list(load_all_strict("a: 1\na: 2\n"))


def test_the_api_answers_an_alias_bomb_with_400_and_bounded_memory() -> None:
    bomb = alias_bomb(levels=8).encode()
    with pytest.raises(ApiError) as raised:
        decode(bomb, "yaml")
    assert raised.value.code == 400
    assert raised.value.status()["message"] == "error decoding YAML: document contains excessive aliasing"
    assert peak_rss_growth(lambda: decode(bomb, "yaml")) < 20 * MIB


def test_the_api_refuses_nan_in_json_as_go_does() -> None:
    with pytest.raises(ApiError) as raised:
        decode(b'{"a": NaN}', "json")
    assert raised.value.code == 400


def test_manifests_with_an_alias_bomb_are_refused_with_bounded_memory() -> None:
    bomb = alias_bomb(levels=8)
    with pytest.raises(ManifestError) as raised:
        load_manifests([("bomb.yaml", bomb)])
    assert raised.value.messages == [
        "bomb.yaml: error converting YAML to JSON: yaml: document contains excessive aliasing"
    ]
    assert peak_rss_growth(lambda: load_manifests([("bomb.yaml", bomb)])) < 20 * MIB


def test_podrun_run_prints_one_error_line_for_an_alias_bomb(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb(levels=8))
    result = subprocess.run([str(PODRUN), "run", "-f", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    message = "error converting YAML to JSON: yaml: document contains excessive aliasing"
    assert result.stderr == f"error: {path}: {message}\n"
