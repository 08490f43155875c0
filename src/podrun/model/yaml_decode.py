"""YAML as Kubernetes reads it, bounded against documents that expand (alias bombs, CVE-2019-11253).

The API server and kubectl turn YAML into JSON through sigs.k8s.io/yaml over go-yaml: keys become strings,
timestamps stay strings, and a document whose aliases make up too much of it is refused ("document contains
excessive aliasing", go-yaml's `allowedAliasRatio`). PyYAML shares the node an alias names instead of copying it,
so a bomb costs nothing to parse but everything to walk, encode or store afterwards. Every document's node graph is
therefore measured before anything is constructed, in time proportional to its distinct nodes:

- an anchor whose value contains itself is refused, as go-yaml refuses it;
- go-yaml's rule: with more than 100 alias-driven nodes and more than 1000 nodes in all, the alias-driven share
  may be 99% up to 400,000 nodes, falling to 10% at 4,000,000 (applied to the document's totals);
- the decoded document, written as JSON, may not be larger than a request body may be (`MAX_DECODED_BYTES`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from typing import Any

import yaml

# libyaml's C parser reads a 1.3 MB manifest of 400 pods 6x faster than PyYAML's pure-Python one (0.59 s against
# 3.6 s on this project's 2-core machine); composition is still PyYAML's, so the expansion check sees every node.
try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

# The API server's limit on request bodies: no decoded document may be larger, as JSON, than a JSON body may be.
MAX_DECODED_BYTES = 3 * 1024 * 1024
_ALIAS_COUNT_FLOOR = 100
_NODE_COUNT_FLOOR = 1000
_ALIAS_RATIO_RANGE_LOW = 400_000
_ALIAS_RATIO_RANGE_HIGH = 4_000_000


class ExpandingDocumentError(yaml.YAMLError):
    """A document refused before construction: it contains itself, aliases too much of itself, or is too large."""


def allowed_alias_ratio(decoded_nodes: int) -> float:
    """go-yaml's `allowedAliasRatio`: the share of a document's nodes that may come from alias expansion."""
    if decoded_nodes <= _ALIAS_RATIO_RANGE_LOW:
        return 0.99
    if decoded_nodes >= _ALIAS_RATIO_RANGE_HIGH:
        return 0.10
    progress = (decoded_nodes - _ALIAS_RATIO_RANGE_LOW) / (_ALIAS_RATIO_RANGE_HIGH - _ALIAS_RATIO_RANGE_LOW)
    return 0.99 - 0.89 * progress


def check_expansion(root: yaml.Node, max_bytes: int = MAX_DECODED_BYTES) -> None:
    """Refuse a composed document that contains itself, aliases too much or decodes to more than `max_bytes` of JSON.

    Each distinct node is visited once: the expanded node count and JSON size of a node are remembered, and every
    further reference to it (an alias) adds them to the alias-driven total without walking it again.
    """
    nodes: dict[int, int] = {}  # id(node) -> nodes it expands to
    sizes: dict[int, int] = {}  # id(node) -> bytes it expands to as JSON (quoted scalars, separators)
    alias_nodes = 0
    in_progress: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        children = _children(node)
        if children_done:
            in_progress.discard(key)
            nodes[key] = 1 + sum(nodes[id(child)] for child in children)
            sizes[key] = 2 + sum(sizes[id(child)] + 1 for child in children)
            continue
        if key in in_progress:
            raise ExpandingDocumentError("anchor value contains itself")
        if key in nodes:
            alias_nodes += nodes[key]
            continue
        if not children:
            nodes[key], sizes[key] = 1, len(str(node.value)) + 2
            continue
        in_progress.add(key)
        stack.append((node, True))
        for child in reversed(children):
            if id(child) in in_progress:
                raise ExpandingDocumentError("anchor value contains itself")
            stack.append((child, False))
    total = nodes[id(root)]
    many_aliases = alias_nodes > _ALIAS_COUNT_FLOOR and total > _NODE_COUNT_FLOOR
    if many_aliases and alias_nodes / total > allowed_alias_ratio(total):
        raise ExpandingDocumentError("document contains excessive aliasing")
    if sizes[id(root)] > max_bytes:
        raise ExpandingDocumentError(f"the decoded document is larger than {max_bytes} bytes")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


class KubernetesLoader(_SafeLoader):
    """Documents checked by `check_expansion`, then built as sigs.k8s.io/yaml builds them: string keys (a later
    repeated key wins), timestamps as strings, `!!binary` as its decoded text, `!!set` as a mapping to nulls."""

    def construct_document(self, node: yaml.Node) -> Any:
        check_expansion(node)
        return super().construct_document(node)

    def mapping_key(self, key_node: yaml.Node) -> str:
        """The key of a mapping entry as a string (`null`, numbers and booleans as JSON writes them)."""
        key = self.construct_object(key_node, deep=True)
        if isinstance(key, str):
            return key
        if key is None:
            return "null"
        if isinstance(key, bool | int | float):
            # Rare (a number as a key): the quantities' module, which writes numbers as Go does, loads only then.
            from podrun.model.quantity import json_number_text

            return json_number_text(key)
        raise yaml.constructor.ConstructorError(None, None, "invalid map key", key_node.start_mark)


class StrictKubernetesLoader(KubernetesLoader):
    """`KubernetesLoader` refusing a repeated key, as kubectl's strict YAML-to-JSON conversion does."""


def _construct_mapping(loader: KubernetesLoader, node: yaml.MappingNode) -> dict[str, Any]:
    loader.flatten_mapping(node)
    mapping: dict[str, Any] = {}
    strict = isinstance(loader, StrictKubernetesLoader)
    for key_node, value_node in node.value:
        key = loader.mapping_key(key_node)
        if strict and key in mapping:
            raise yaml.constructor.ConstructorError(None, None, f'key "{key}" already set in map', key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


def _construct_timestamp(loader: KubernetesLoader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


def _construct_binary(loader: KubernetesLoader, node: yaml.ScalarNode) -> str:
    text = str(loader.construct_scalar(node))
    try:
        return base64.b64decode(text.encode("ascii"), validate=False).decode("utf-8", "replace")
    except (binascii.Error, UnicodeEncodeError):
        raise yaml.constructor.ConstructorError(
            None, None, "!!binary value contains invalid base64 data", node.start_mark
        ) from None


def _construct_set(loader: KubernetesLoader, node: yaml.MappingNode) -> dict[str, Any]:
    return _construct_mapping(loader, node)


KubernetesLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
KubernetesLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)
KubernetesLoader.add_constructor("tag:yaml.org,2002:binary", _construct_binary)
KubernetesLoader.add_constructor("tag:yaml.org,2002:set", _construct_set)


def load(text: str | bytes) -> Any:
    """The one document of `text` (None when empty); `yaml.YAMLError` when it does not parse or expands too far."""
    return yaml.load(text, Loader=KubernetesLoader)


def load_all_strict(text: str | bytes) -> Iterator[Any]:
    """Every document of `text` in order, repeated keys refused; raises as `load` does."""
    return yaml.load_all(text, Loader=StrictKubernetesLoader)
