"""`metadata.managedFields`: who owns which fields, as the API server's fieldmanager keeps it.

Every write records its manager. An Update operation (create, update or a non-apply patch) takes the fields it
added or changed from everyone else (`record_update`); an Apply operation owns exactly the fields of its
configuration (`podrun.api.apply`). Entries are told apart by manager, operation and subresource, and kept in
upstream's order (Apply before Update, then by time and manager).

The fields every object has and only the server sets (`apiVersion`, `kind`, `metadata.name`, `metadata.uid`, …)
are owned by nobody, nor is the status of a resource with a status subresource outside of it (and the spec
within it): the strategies' reset fields.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from podrun.api import fieldpath
from podrun.api.errors import ApiError
from podrun.api.fieldpath import FieldSet, Path
from podrun.api.typed_value import compare, kind_type
from podrun.model.defaults import default_configmap, default_pod, default_secret
from podrun.model.errors import FieldError
from podrun.model.schema_data import field_types, schemas
from podrun.model.service import default_service
from podrun.timestamps import format_time

JSON = dict[str, Any]
APPLY, UPDATE = "Apply", "Update"
# validation.FieldManagerMaxLength.
_MAX_MANAGER_LENGTH = 128
# DefaultMaxUpdateManagers and the manager older Update entries are merged into.
_MAX_UPDATE_MANAGERS = 10
_ANCIENT_CHANGES = "ancient-changes"
# The paths stripped from every manager's set (fieldmanager's stripMetaManager): exact members only.
_STRIPPED = frozenset(
    {
        fieldpath.path("apiVersion"),
        fieldpath.path("kind"),
        fieldpath.path("metadata"),
        *(
            fieldpath.path("metadata", name)
            for name in (
                "name",
                "namespace",
                "creationTimestamp",
                "selfLink",
                "uid",
                "clusterName",
                "generation",
                "managedFields",
                "resourceVersion",
            )
        ),
    }
)
# What writes to the main resource and to its status subresource may not own (the pod strategy's ResetFields).
_MAIN_RESETS = (fieldpath.path("status"),)
_STATUS_RESETS = (
    fieldpath.path("spec"),
    fieldpath.path("metadata", "deletionTimestamp"),
    fieldpath.path("metadata", "ownerReferences"),
)


@dataclass(frozen=True)
class ManagerId:
    """What tells two entries apart (BuildManagerIdentifier; with one served version, not the apiVersion)."""

    manager: str
    operation: str
    subresource: str = ""

    def describe(self) -> str:
        """The manager as conflicts name it: `"kubectl"`, `"kubectl-edit" using v1`, with its subresource."""
        text = f'"{self.manager}"'
        if self.subresource:
            text += f' with subresource "{self.subresource}"'
        if self.operation == UPDATE:
            text += " using v1"
        return text


@dataclass
class Managed:
    """One entry: the fields a manager owns, in which apiVersion, and when it last changed them."""

    fields: FieldSet
    api_version: str
    time: str | None


Managers = dict[ManagerId, Managed]


def manager_from_user_agent(user_agent: str) -> str:
    """The manager of a request without `fieldManager`: the User-Agent up to its first `/`, printable
    characters only, at most 128 (prefixFromUserAgent): `kubectl` for `kubectl/v1.32.0 (linux/amd64) …`."""
    printable = [ch for ch in user_agent.split("/")[0] if ch.isprintable()]
    return "".join(printable)[:_MAX_MANAGER_LENGTH]


def field_manager_errors(manager: str) -> list[FieldError]:
    """ValidateFieldManager: at most 128 bytes, printable characters only."""
    errors: list[FieldError] = []
    if len(manager.encode()) > _MAX_MANAGER_LENGTH:
        errors.append(FieldError.too_long("fieldManager", _MAX_MANAGER_LENGTH))
    position = 0
    for character in manager:
        if not character.isprintable():
            detail = f"invalid character U+{ord(character):04X} (at position {position})"
            errors.append(FieldError.invalid("fieldManager", manager, detail))
        position += len(character.encode())
    return errors


def now() -> str:
    """The time of an entry: RFC3339 in UTC with seconds."""
    return format_time(datetime.now(UTC).timestamp())


# --- the managedFields list ------------------------------------------------------------------------------------


def decode(obj: JSON | None) -> Managers | None:
    """The entries of an object's `metadata.managedFields`; None when it has none or they do not decode."""
    entries = ((obj or {}).get("metadata") or {}).get("managedFields")
    if not isinstance(entries, list) or not entries:
        return None
    managers: Managers = {}
    try:
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("fieldsType", "FieldsV1") != "FieldsV1":
                return None
            identity = ManagerId(
                str(entry.get("manager") or ""), str(entry.get("operation") or ""), str(entry.get("subresource") or "")
            )
            fields = fieldpath.from_fields_v1(entry.get("fieldsV1") or {})
            previous = managers.get(identity)
            if previous is not None:
                fields |= previous.fields
            managers[identity] = Managed(fields, str(entry.get("apiVersion") or ""), entry.get("time"))
    except ValueError:
        return None
    return managers


def is_reset_request(obj: JSON) -> bool:
    """`managedFields: [{}]`: the client asks to drop every entry."""
    entries = (obj.get("metadata") or {}).get("managedFields")
    return entries == [{}]


def encode(managers: Managers) -> list[JSON]:
    """The `metadata.managedFields` list, in upstream's order (sortEncodedManagedFields)."""

    def order(item: tuple[ManagerId, Managed]) -> tuple[str, str, str, str]:
        identity, managed = item
        return identity.operation, managed.time or "", identity.manager, identity.subresource

    entries: list[JSON] = []
    for identity, managed in sorted(managers.items(), key=order):
        if not managed.fields:
            continue
        entry: JSON = {"manager": identity.manager, "operation": identity.operation, "apiVersion": managed.api_version}
        if managed.time:
            entry["time"] = managed.time
        entry["fieldsType"] = "FieldsV1"
        entry["fieldsV1"] = fieldpath.to_fields_v1(managed.fields)
        if identity.subresource:
            entry["subresource"] = identity.subresource
        entries.append(entry)
    return entries


def without_managed_fields(obj: JSON | None) -> JSON:
    """A copy of the object without `metadata.managedFields` (ownership is not part of what is owned)."""
    if obj is None:
        return {}
    clean = copy.deepcopy(obj)
    meta = clean.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return clean


def ownable(paths: FieldSet, *, has_status: bool, subresource: str) -> FieldSet:
    """The paths an operation may own: without the server-set metadata and the strategy's reset fields."""
    kept = paths - _STRIPPED
    if has_status:
        kept = fieldpath.without_prefixes(kept, _STATUS_RESETS if subresource == "status" else _MAIN_RESETS)
    return kept


# --- Update operations -----------------------------------------------------------------------------------------


def _default_namespace(namespace: JSON) -> JSON:
    """SetDefaults_Namespace: the `kubernetes.io/metadata.name` label, which its creator thus owns."""
    result = copy.deepcopy(namespace)
    meta = result.setdefault("metadata", {})
    if isinstance(meta, dict) and meta.get("name"):
        given = meta.get("labels")
        labels: JSON = given if isinstance(given, dict) else {}
        meta["labels"] = {**labels, "kubernetes.io/metadata.name": meta["name"]}
    return result


_DEFAULTERS: dict[str, Callable[[JSON], JSON]] = {
    "Pod": default_pod,
    "ConfigMap": default_configmap,
    "Secret": default_secret,
    "Service": default_service,
    "Namespace": _default_namespace,
}
# What admission (ServiceAccount, DefaultTolerationSeconds, Priority) rather than defaulting fills into a pod's
# spec: the API server records the writer's fields before admission runs, so the writer does not own these.
_POD_ADMISSION_FIELDS = ("serviceAccountName", "serviceAccount", "tolerations", "priority", "preemptionPolicy")


def as_written(kind: str, obj: JSON) -> JSON:
    """The object a client wrote, decoded and defaulted but not admitted: what an Update operation owns.

    Call it after the strategy accepted the object (its defaulting errors are the strategy's to report).
    """
    defaulter = _DEFAULTERS.get(kind)
    try:
        written = defaulter(obj) if defaulter else copy.deepcopy(obj)
    except ValueError:
        return copy.deepcopy(obj)
    if kind == "Pod" and isinstance(written.get("spec"), dict):
        given = obj.get("spec")
        sent: JSON = given if isinstance(given, dict) else {}
        for name in _POD_ADMISSION_FIELDS:
            if name in sent:
                written["spec"][name] = copy.deepcopy(sent[name])
            else:
                written["spec"].pop(name, None)
    return written


def record_update(
    kind: str,
    live: JSON | None,
    new: JSON,
    manager: str,
    *,
    has_status: bool,
    subresource: str = "",
    api_version: str = "v1",
) -> JSON:
    """`new` with the managedFields after `manager` changed `live` (None: created) into it.

    The manager takes every field it added or changed from the other managers, all managers lose the fields
    it removed, and its entry gets a new time only when it changed something (managedFieldsUpdater). The
    entries come from `new` when the client sent some (outside subresources), else from `live`.
    """
    managers = _starting_managers(live, new, subresource)
    if live is None:
        comparison = compare(_zero_object(kind), _unowned_view(new), kind_type(kind))
    else:
        # A part that is the same object on both sides cannot have changed: comparing it field by field (the spec
        # and metadata of every status write the kubelet makes) cost more than the rest of the update.
        same = {key for key, value in new.items() if key in live and live[key] is value}
        comparison = compare(_unowned_view(live, skip=same), _unowned_view(new, skip=same), kind_type(kind))
    changed = ownable(comparison.changed(), has_status=has_status, subresource=subresource)
    removed = ownable(frozenset(comparison.removed), has_status=has_status, subresource=subresource)
    for managed in managers.values():
        managed.fields = managed.fields - changed - removed
    if changed:
        identity = ManagerId(manager, UPDATE, subresource)
        previous = managers.get(identity)
        fields = changed | (previous.fields if previous else fieldpath.EMPTY)
        managers[identity] = Managed(fields, api_version, now())
    # Only metadata.managedFields is written into the result: the rest is shared with `new` (callers treat both
    # as values, as they did the deep copy this was).
    result = dict(new, metadata=dict(new.get("metadata") or {}))
    _store(result, _capped(managers))
    return result


def _unowned_view(obj: JSON, skip: frozenset[str] | set[str] = frozenset()) -> JSON:
    """The object without `metadata.managedFields` and the top-level keys in `skip`, sharing everything else (for
    reading only)."""
    view = {key: value for key, value in obj.items() if key not in skip}
    meta = view.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        view["metadata"] = {key: value for key, value in meta.items() if key != "managedFields"}
    return view


def _capped(managers: Managers) -> Managers:
    """At most ten Update entries (capManagersManager): the oldest are merged, per apiVersion, into one
    `ancient-changes` entry with the time of the newest merged."""
    updaters = sorted(
        (identity for identity, managed in managers.items() if identity.operation == UPDATE),
        key=lambda identity: (managers[identity].time or "", identity.manager, identity.subresource),
    )
    count = len(updaters)
    first_of_version: dict[str, ManagerId] = {}
    for identity in updaters:
        if count <= _MAX_UPDATE_MANAGERS:
            break
        managed = managers[identity]
        first = first_of_version.setdefault(managed.api_version, identity)
        if first == identity:
            continue
        bucket = ManagerId(_ANCIENT_CHANGES, UPDATE)
        if bucket not in managers:
            managers[bucket] = managers.pop(first)
        merged = managers[bucket].fields | managed.fields
        managers[bucket] = Managed(merged, managed.api_version, managed.time)
        del managers[identity]
        count -= 1
    return managers


def record_object_write(kind: str, live: JSON | None, new: JSON, manager: str) -> JSON:
    """`new` with the managedFields after `manager` wrote all of it, spec and status, as one Update of the
    resource and one of its status subresource (the kubelet registering its Node and reporting its status)."""
    main = record_update(kind, live, new, manager, has_status=True)
    if live is None:
        return main
    before = copy.deepcopy(live)
    before["metadata"]["managedFields"] = main["metadata"].get("managedFields", [])
    return record_update(kind, before, main, manager, has_status=True, subresource="status")


def _starting_managers(live: JSON | None, new: JSON, subresource: str) -> Managers:
    if is_reset_request(new):
        return {}
    sent = None if subresource else decode(new)
    return sent if sent is not None else (decode(live) or {})


def _zero_object(kind: str) -> JSON:
    """What the API server compares a created object with: the kind's zero value, whose metadata, spec and
    status exist (empty), so that only what is inside them counts as added."""
    present = field_types().get(kind_type(kind).ref, {})
    zero: JSON = {name: {} for name in ("metadata", "spec", "status") if name in present or name == "metadata"}
    if "spec" in zero and present["spec"] in schemas():
        # Required fields have no omitempty: the zero spec holds them as nulls (a pod's `containers: null`).
        zero["spec"] = {name: None for name in schemas()[present["spec"]].get("required", ())}
    return zero


def _store(obj: JSON, managers: Managers) -> None:
    meta = obj.setdefault("metadata", {})
    entries = encode({identity: managed for identity, managed in managers.items() if managed.fields})
    if entries:
        meta["managedFields"] = entries
    else:
        meta.pop("managedFields", None)


def keeping_timestamps_of_a_no_op(new: JSON, existing: JSON) -> JSON:
    """`new` with `existing`'s managedFields when the two differ in nothing but the times of those entries
    (IgnoreManagedFieldsTimestampsTransformer): an apply of values the strategy normalises back to the stored
    ones, such as `cpu: 1000m` over `1`, then writes nothing."""

    def untimed(obj: JSON) -> JSON:
        clean = copy.deepcopy(obj)
        meta = clean.get("metadata")
        if isinstance(meta, dict):
            meta.pop("resourceVersion", None)
            for entry in meta.get("managedFields") or []:
                if isinstance(entry, dict):
                    entry.pop("time", None)
        return clean

    if untimed(new) != untimed(existing):
        return new
    result = copy.deepcopy(new)
    previous = existing["metadata"].get("managedFields")
    if previous is not None:
        result["metadata"]["managedFields"] = copy.deepcopy(previous)
    return result


# --- conflicts -------------------------------------------------------------------------------------------------


def conflict_error(conflicts: dict[ManagerId, FieldSet]) -> ApiError:
    """The 409 of an apply that changes fields others own (NewConflictError): a `FieldManagerConflict` cause per
    field and upstream's message, which lists the fields by manager when there is more than one."""
    pairs: list[tuple[ManagerId, Path]] = [
        (identity, member)
        for identity, fields in sorted(conflicts.items(), key=lambda item: item[0].describe())
        for member in fieldpath.sorted_paths(fields)
    ]
    causes = [
        {
            "type": "FieldManagerConflict",
            "message": f"conflict with {identity.describe()}",
            "field": fieldpath.path_string(member),
        }
        for identity, member in pairs
    ]
    if len(pairs) == 1:
        identity, member = pairs[0]
        message = f"Apply failed with 1 conflict: conflict with {identity.describe()}: {fieldpath.path_string(member)}"
    else:
        lines: list[str] = []
        for identity, fields in sorted(conflicts.items(), key=lambda item: item[0].describe()):
            lines.append(f"conflicts with {identity.describe()}:")
            lines.extend(f"- {fieldpath.path_string(member)}" for member in fieldpath.sorted_paths(fields))
        message = f"Apply failed with {len(pairs)} conflicts: " + "\n".join(lines)
    return ApiError(409, "Conflict", message, {"causes": causes})
