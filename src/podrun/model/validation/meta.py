"""Object metadata validation: names, labels, annotations, finalizers, owner references."""

from __future__ import annotations

import re
from collections.abc import Callable

from podrun.json_types import JSON
from podrun.model.errors import FieldError
from podrun.model.validation.formats import MAX_INT32, NEGATIVE, is_label_value, is_qualified_name, name_is_dns_label
from podrun.model.validation.readers import Errors, as_dict, as_int, as_list, as_str, name_errors

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024


_STANDARD_FINALIZERS = frozenset({"kubernetes", "orphan", "foregroundDeletion"})


def validate_object_meta(meta: JSON, name_fn: Callable[[str, bool], list[str]]) -> Errors:
    """ValidateObjectMeta for a namespaced object, plus the core finalizer-name check."""
    errors: Errors = []
    generate_name = as_str(meta.get("generateName"))
    if generate_name:
        errors += name_errors(name_fn(generate_name, True), "metadata.generateName", generate_name)
    name = as_str(meta.get("name"))
    if not name:
        errors.append(FieldError.required("metadata.name", "name or generateName is required"))
    else:
        errors += name_errors(name_fn(name, False), "metadata.name", name)
    namespace = as_str(meta.get("namespace"))
    if not namespace:
        errors.append(FieldError.required("metadata.namespace"))
    else:
        errors += name_errors(name_is_dns_label(namespace), "metadata.namespace", namespace)
    generation = as_int(meta.get("generation"))
    if generation is not None and generation < 0:
        errors.append(FieldError.invalid("metadata.generation", generation, NEGATIVE))
    errors += validate_labels(as_dict(meta.get("labels")), "metadata.labels")
    errors += validate_annotations(as_dict(meta.get("annotations")), "metadata.annotations")
    finalizers = [as_str(item) for item in as_list(meta.get("finalizers"))]
    for finalizer in finalizers:
        errors += name_errors(is_qualified_name(finalizer), "metadata.finalizers", finalizer)
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
        value = as_str(labels[key])
        errors += name_errors(is_qualified_name(key), path, key)
        errors += name_errors(is_label_value(value), path, value)
    return errors


def validate_annotations(annotations: JSON, path: str) -> Errors:
    """Annotation keys are qualified names (any case); all of them together stay under 256 KiB."""
    errors: Errors = []
    for key in sorted(annotations):
        errors += name_errors(is_qualified_name(key.lower()), path, key)
    size = sum(len(key.encode()) + len(as_str(value).encode()) for key, value in annotations.items())
    if size > TOTAL_ANNOTATION_SIZE_LIMIT:
        errors.append(FieldError.too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return errors


def validate_pod_annotations(meta: JSON, spec: JSON) -> Errors:
    """The annotations a pod may not carry, or must carry well-formed (ValidatePodSpecificAnnotations)."""
    annotations = as_dict(meta.get("annotations"))
    errors: Errors = []
    mirror = "kubernetes.io/config.mirror"
    if mirror in annotations and not as_str(spec.get("nodeName")):
        errors.append(
            FieldError.invalid(
                f"metadata.annotations[{mirror}]",
                as_str(annotations[mirror]),
                "must set spec.nodeName if mirror pod annotation is set",
            )
        )
    cost_key = "controller.kubernetes.io/pod-deletion-cost"
    if cost_key in annotations and not _is_int32_text(as_str(annotations[cost_key])):
        errors.append(
            FieldError.invalid(
                f"metadata.annotations[{cost_key}]", as_str(annotations[cost_key]), "must be a 32bit integer"
            )
        )
    return errors


def _is_int32_text(text: str) -> bool:
    # GetDeletionCostFromPodAnnotations looks at the first character only: no '+', no leading zero.
    if not text or not (text[0] == "-" or text == "0" or "1" <= text[0] <= "9"):
        return False
    return bool(re.fullmatch("-?[0-9]+", text)) and -(2**31) <= int(text) <= MAX_INT32
