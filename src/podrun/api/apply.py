"""Server-side apply (`PATCH` with `application/apply-patch+yaml`), as structured-merge-diff's `Updater.Apply`.

The applied configuration is merged into the live object by the schema's list types and keys; the fields the
manager applied last time and no longer applies are removed unless another manager owns them too (`prune`);
changing a field another manager owns is a conflict (409) unless forced, which takes the field from it. The
manager's Apply entry then holds exactly the configuration's fields.
"""

from __future__ import annotations

from typing import Any

from podrun.api import fieldpath
from podrun.api.errors import bad_request
from podrun.api.field_managers import (
    APPLY,
    Managed,
    ManagerId,
    conflict_error,
    decode,
    encode,
    now,
    ownable,
    without_managed_fields,
)
from podrun.api.fieldpath import FieldSet
from podrun.api.typed_value import compare, field_set, kind_type, merge, remove, without_nulls

JSON = dict[str, Any]


def server_side_apply(
    kind: str,
    live: JSON | None,
    config: JSON,
    manager: str,
    *,
    force: bool,
    has_status: bool,
    subresource: str = "",
    api_version: str = "v1",
) -> JSON:
    """The object to store after `manager` applies `config` to `live` (None: the object does not exist yet),
    with its managedFields; ApiError 409 when it changes fields other managers own and `force` is not set, 400
    when the configuration names another apiVersion or carries managedFields."""
    if config.get("apiVersion") != api_version:
        raise bad_request(
            "Incorrect version specified in apply patch. "
            f"Specified patch version: {config.get('apiVersion') or ''}, expected: {api_version}"
        )
    if (config.get("metadata") or {}).get("managedFields") is not None:
        raise bad_request("metadata.managedFields must be nil")
    kind_of = kind_type(kind)
    managers = decode(live) or {}
    current = without_managed_fields(live) if live is not None else None
    applied_config = without_managed_fields(config)
    configured = field_set(applied_config, kind_of)
    applied = ownable(configured, has_status=has_status, subresource=subresource)
    identity = ManagerId(manager, APPLY, subresource)
    previous = managers.get(identity)
    # The stored object is the Go type's encoding, where a null field is no field (omitempty).
    merged = without_nulls(merge(current, applied_config, kind_of), kind_of)
    # The configuration's own metadata.name keeps metadata itself from being pruned, as upstream.
    dropped = _dropped(previous.fields if previous else fieldpath.EMPTY, configured, managers, identity)
    if dropped:
        merged = remove(merged, dropped, kind_of)
    comparison = compare(current if current is not None else {}, merged, kind_of)
    changed = ownable(comparison.changed(), has_status=has_status, subresource=subresource)
    conflicts = {
        other: managed.fields & changed
        for other, managed in managers.items()
        if other != identity and managed.fields & changed
    }
    if conflicts and not force:
        raise conflict_error(conflicts)
    removed = ownable(frozenset(comparison.removed), has_status=has_status, subresource=subresource)
    for other, managed in managers.items():
        if other != identity:
            managed.fields = managed.fields - changed - removed
    same = comparison.is_same()
    time = previous.time if previous is not None and same else now()
    managers[identity] = Managed(applied, api_version, time)
    result = current if same and current is not None else merged
    result.setdefault("metadata", {})["managedFields"] = encode(managers)
    if not result["metadata"]["managedFields"]:
        del result["metadata"]["managedFields"]
    return result


def _dropped(last: FieldSet, applied: FieldSet, managers: dict[ManagerId, Managed], identity: ManagerId) -> FieldSet:
    """What the manager applied before and no longer applies, that nobody else owns (with what is below it)."""
    if not last:
        return fieldpath.EMPTY
    others = [managed.fields for other, managed in managers.items() if other != identity]
    kept = fieldpath.with_field_prefixes(applied.union(*others))
    return fieldpath.with_field_prefixes(last) - kept
