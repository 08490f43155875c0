"""Object metadata validation: names, labels, annotations, finalizers, owner references."""

from __future__ import annotations

import re
from collections.abc import Callable

from podrun.json_types import JSON
from podrun.model.errors import FieldError
from podrun.model.validation.formats import _NEGATIVE, MAX_INT32, is_label_value, is_qualified_name, name_is_dns_label
from podrun.model.validation.readers import Errors, _dict, _int, _list, _names, _str

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024


_STANDARD_FINALIZERS = frozenset({"kubernetes", "orphan", "foregroundDeletion"})


def _validate_object_meta(meta: JSON, name_fn: Callable[[str, bool], list[str]]) -> Errors:
    """ValidateObjectMeta for a namespaced object, plus the core finalizer-name check."""
    errors: Errors = []
    generate_name = _str(meta.get("generateName"))
    if generate_name:
        errors += _names(name_fn(generate_name, True), "metadata.generateName", generate_name)
    name = _str(meta.get("name"))
    if not name:
        errors.append(FieldError.required("metadata.name", "name or generateName is required"))
    else:
        errors += _names(name_fn(name, False), "metadata.name", name)
    namespace = _str(meta.get("namespace"))
    if not namespace:
        errors.append(FieldError.required("metadata.namespace"))
    else:
        errors += _names(name_is_dns_label(namespace), "metadata.namespace", namespace)
    generation = _int(meta.get("generation"))
    if generation is not None and generation < 0:
        errors.append(FieldError.invalid("metadata.generation", generation, _NEGATIVE))
    errors += validate_labels(_dict(meta.get("labels")), "metadata.labels")
    errors += validate_annotations(_dict(meta.get("annotations")), "metadata.annotations")
    finalizers = [_str(item) for item in _list(meta.get("finalizers"))]
    for finalizer in finalizers:
        errors += _names(is_qualified_name(finalizer), "metadata.finalizers", finalizer)
    if "orphan" in finalizers and "foregroundDeletion" in finalizers:
        errors.append(
            FieldError.invalid(
                "metadata.finalizers", finalizers, "finalizer orphan and foregroundDeletion cannot be both set"
            )
        )
    for index, finalizer in enumerate(finalizers):
        if "/" not in finalizer and finalizer not in _STANDARD_FINALIZERS:
            errors.append(
                FieldError.invalid(
                    f"metadata.finalizers[{index}]",
                    finalizer,
                    "name is neither a standard finalizer name nor is it fully qualified",
                )
            )
    return errors


def validate_labels(labels: JSON, path: str) -> Errors:
    """Label keys must be qualified names and values valid label values."""
    errors: Errors = []
    for key in sorted(labels):
        value = _str(labels[key])
        errors += _names(is_qualified_name(key), path, key)
        errors += _names(is_label_value(value), path, value)
    return errors


def validate_annotations(annotations: JSON, path: str) -> Errors:
    """Annotation keys are qualified names (any case); all of them together stay under 256 KiB."""
    errors: Errors = []
    for key in sorted(annotations):
        errors += _names(is_qualified_name(key.lower()), path, key)
    size = sum(len(key.encode()) + len(_str(value).encode()) for key, value in annotations.items())
    if size > TOTAL_ANNOTATION_SIZE_LIMIT:
        errors.append(FieldError.too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return errors


def _validate_pod_annotations(meta: JSON, spec: JSON) -> Errors:
    annotations = _dict(meta.get("annotations"))
    errors: Errors = []
    mirror = "kubernetes.io/config.mirror"
    if mirror in annotations and not _str(spec.get("nodeName")):
        errors.append(
            FieldError.invalid(
                f"metadata.annotations[{mirror}]",
                _str(annotations[mirror]),
                "must set spec.nodeName if mirror pod annotation is set",
            )
        )
    cost_key = "controller.kubernetes.io/pod-deletion-cost"
    if cost_key in annotations and not _is_int32_text(_str(annotations[cost_key])):
        errors.append(
            FieldError.invalid(
                f"metadata.annotations[{cost_key}]", _str(annotations[cost_key]), "must be a 32bit integer"
            )
        )
    return errors


def _is_int32_text(text: str) -> bool:
    # GetDeletionCostFromPodAnnotations looks at the first character only: no '+', no leading zero.
    if not text or not (text[0] == "-" or text == "0" or "1" <= text[0] <= "9"):
        return False
    return bool(re.fullmatch("-?[0-9]+", text)) and -(2**31) <= int(text) <= MAX_INT32
