"""Pod update validation: which spec fields may change and how (`validate_pod_update`)."""

from __future__ import annotations

import json
from typing import Any

from podrun.json_types import JSON
from podrun.model.errors import FieldError
from podrun.model.validation.formats import MAX_INT32, inclusive_range_error
from podrun.model.validation.meta import validate_pod_annotations
from podrun.model.validation.pod import validate_pod_metadata_and_spec, validate_tolerations
from podrun.model.validation.readers import Errors, as_dict, as_dicts, as_int, as_str

UPDATABLE_POD_SPEC_FIELDS = (
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
)


def validate_pod_update(old: JSON, new: JSON) -> list[FieldError]:
    """ValidatePodUpdate: the new pod must be valid, and only the mutable fields may differ.

    Both pods are defaulted. The metadata checks cover name, namespace and uid; resourceVersion,
    generation and timestamps are the API server's to manage. The closing `spec: Forbidden` error ends
    with a diff that lists each changed spec field as `- path: old` / `+ path: new` (JSON values)
    instead of Go's cmp.Diff of the internal struct.
    """
    errors = _metadata_and_spec_update(old, new)
    old_spec, new_spec = as_dict(old.get("spec")), as_dict(new.get("spec"))
    for key in ("containers", "initContainers"):
        container_errors, stop = _container_updates(as_dicts(new_spec.get(key)), as_dicts(old_spec.get(key)), key)
        errors += container_errors
        if stop:
            return errors
    deadline_errors = _deadline_update(old_spec.get("activeDeadlineSeconds"), new_spec.get("activeDeadlineSeconds"))
    if deadline_errors and new_spec.get("activeDeadlineSeconds") is not None:
        return errors + deadline_errors
    errors += deadline_errors
    errors += _tolerations_update(as_dicts(old_spec.get("tolerations")), as_dicts(new_spec.get("tolerations")))
    errors += _scheduling_gates_update(
        as_dicts(old_spec.get("schedulingGates")), as_dicts(new_spec.get("schedulingGates"))
    )
    old_semantic = _semantic(old_spec)
    munged = _semantic(_munge(old_spec, new_spec))
    if munged != old_semantic:
        diff = "".join(line + "\n" for line in _diff(old_semantic, munged, "spec"))
        detail = f"pod updates may not change fields other than {','.join(UPDATABLE_POD_SPEC_FIELDS)}\n{diff}"
        errors.append(FieldError.forbidden("spec", detail))
    return errors


def validate_pod_ephemeral_containers_update(old: JSON, new: JSON) -> list[FieldError]:
    """ValidatePodEphemeralContainersUpdate: the new pod must be valid, and its ephemeral containers may only grow.

    Existing ephemeral containers are matched by name (a patch need not keep their order) and may be neither
    removed nor changed; the change is shown as the `- path: old` / `+ path: new` lines of `validate_pod_update`.
    """
    errors = _metadata_and_spec_update(old, new)
    path = "spec.ephemeralContainers"
    new_by_name = {as_str(c.get("name")): c for c in as_dicts(as_dict(new.get("spec")).get("ephemeralContainers"))}
    for existing in as_dicts(as_dict(old.get("spec")).get("ephemeralContainers")):
        name = as_str(existing.get("name"))
        quoted = json.dumps(name)
        if name not in new_by_name:
            errors.append(FieldError.forbidden(path, f"existing ephemeral containers {quoted} may not be removed\n"))
            continue
        before, after = _semantic(existing), _semantic(new_by_name[name])
        if before != after:
            diff = "".join(line + "\n" for line in _diff(before, after, name))
            detail = f"existing ephemeral containers {quoted} may not be changed\n{diff}"
            errors.append(FieldError.forbidden(path, detail))
    return errors


def _metadata_and_spec_update(old: JSON, new: JSON) -> Errors:
    """What every pod update checks first: immutable metadata, then the whole new pod and its annotations."""
    old_meta, new_meta = as_dict(old.get("metadata")), as_dict(new.get("metadata"))
    errors: Errors = []
    for key in ("name", "namespace", "uid"):
        if key == "uid" and not new_meta.get(key):
            continue
        if new_meta.get(key) != old_meta.get(key):
            errors.append(FieldError.invalid(f"metadata.{key}", new_meta.get(key), "field is immutable"))
    errors += validate_pod_metadata_and_spec(new)
    errors += validate_pod_annotations(new_meta, as_dict(new.get("spec")))
    return errors


def _container_updates(new: list[JSON], old: list[JSON], key: str) -> tuple[Errors, bool]:
    if len(new) != len(old):
        return [FieldError.forbidden(f"spec.{key}", "pod updates may not add or remove containers")], True
    errors: Errors = []
    for index, container in enumerate(new):
        image = as_str(container.get("image"))
        if not image:
            errors.append(FieldError.required(f"spec.{key}[{index}].image"))
        if image != image.strip():
            errors.append(
                FieldError.invalid(f"spec.{key}[{index}].image", image, "must not have leading or trailing whitespace")
            )
    return errors, False


def _deadline_update(old: Any, new: Any) -> Errors:
    path = "spec.activeDeadlineSeconds"
    if new is not None:
        value = as_int(new)
        if value is None or not 0 <= value <= MAX_INT32:
            return [FieldError.invalid(path, new, inclusive_range_error(0, MAX_INT32))]
        if old is not None and (as_int(old) or 0) < value:
            return [FieldError.invalid(path, value, "must be less than or equal to previous value")]
        return []
    if old is not None:
        return [FieldError.invalid(path, None, "must not update from a positive integer to nil value")]
    return []


def _tolerations_update(old: list[JSON], new: list[JSON]) -> Errors:
    for existing in old:
        # An existing toleration may only change its tolerationSeconds.
        if not any(_without_seconds(existing) == _without_seconds(candidate) for candidate in new):
            return [
                FieldError.forbidden(
                    "spec.tolerations", "existing toleration can not be modified except its tolerationSeconds"
                )
            ]
    return validate_tolerations(new, "spec.tolerations")


def _without_seconds(toleration: JSON) -> JSON:
    semantic: JSON = _semantic({key: value for key, value in toleration.items() if key != "tolerationSeconds"})
    return semantic


def _scheduling_gates_update(old: list[JSON], new: list[JSON]) -> Errors:
    old_names = {as_str(gate.get("name")) for gate in old}
    errors: Errors = []
    for index, gate in enumerate(new):
        name = as_str(gate.get("name"))
        if name not in old_names:
            errors.append(
                FieldError.forbidden(
                    f"spec.schedulingGates[{index}].name",
                    f"only deletion is allowed, but found new scheduling gate '{name}'",
                )
            )
    return errors


def _munge(old: JSON, new: JSON) -> JSON:
    """The new spec with every field that may change put back to its old value."""
    munged = dict(new)
    for key in ("containers", "initContainers"):
        old_containers = as_dicts(old.get(key))
        if key in munged:
            munged[key] = [
                _with_key(container, "image", old_containers[index].get("image"))
                for index, container in enumerate(as_dicts(new.get(key)))
            ]
    for key in ("activeDeadlineSeconds", "schedulingGates", "tolerations"):
        munged = _with_key(munged, key, old.get(key))
    old_grace, new_grace = (
        as_int(old.get("terminationGracePeriodSeconds")),
        as_int(new.get("terminationGracePeriodSeconds")),
    )
    if old_grace is not None and old_grace < 0 and new_grace == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    return munged


def _with_key(obj: JSON, key: str, value: Any) -> JSON:
    copy = {name: item for name, item in obj.items() if name != key}
    if value is not None:
        copy[key] = value
    return copy


def _semantic(value: Any) -> Any:
    """Drop nulls and empty lists, which Kubernetes' semantic equality does not tell from absent."""
    if isinstance(value, dict):
        return {key: _semantic(item) for key, item in value.items() if item is not None and item != []}
    if isinstance(value, list):
        return [_semantic(item) for item in value]
    return value


def _diff(old: Any, new: Any, path: str) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        lines: list[str] = []
        for key in [*old, *(key for key in new if key not in old)]:
            child = f"{path}.{key}"
            if key not in new:
                lines.append(f"- {child}: {_render(old[key])}")
            elif key not in old:
                lines.append(f"+ {child}: {_render(new[key])}")
            else:
                lines += _diff(old[key], new[key], child)
        return lines
    if isinstance(old, list) and isinstance(new, list):
        lines = []
        for index in range(max(len(old), len(new))):
            child = f"{path}[{index}]"
            if index >= len(new):
                lines.append(f"- {child}: {_render(old[index])}")
            elif index >= len(old):
                lines.append(f"+ {child}: {_render(new[index])}")
            else:
                lines += _diff(old[index], new[index], child)
        return lines
    if old == new:
        return []
    return [f"- {path}: {_render(old)}", f"+ {path}: {_render(new)}"]


def _render(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
