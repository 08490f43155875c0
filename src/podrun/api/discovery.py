"""`/version` and API discovery: `/api`, `/apis`, `/api/v1`, legacy or aggregated (apidiscovery.k8s.io/v2).

The aggregated form is sent only to clients that list it in Accept (kubectl 1.30+); older ones get the legacy
documents, which every kubectl understands (sending v2 to kubectl 1.27-1.29 breaks them). The `/version`
answer decides which kubectl the gcloud kubectl dispatcher runs: `kubectl.1.<minor>`.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from podrun.api.handlers_auth import REVIEWS
from podrun.api.registry import GROUP_RESOURCES, RESOURCES, Resource
from podrun.api.wire import accepts, json_response

JSON = dict[str, Any]

AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
_AGGREGATED_PARAMS = {"g": "apidiscovery.k8s.io", "v": "v2", "as": "APIGroupDiscoveryList"}
_VERSION = re.compile(r"^v(\d+)\.(\d+)\.(\d+)")
# The named group versions: the stored resources', then authorization.k8s.io/v1 and authentication.k8s.io/v1
# (create-only reviews, not stored).
_GROUP_VERSIONS = (*GROUP_RESOURCES, *REVIEWS)


def version_info(kubernetes_version: str) -> JSON:
    """The `version.Info` of a `v1.32.4`-style version."""
    match = _VERSION.match(kubernetes_version)
    if match is None:
        raise ValueError(f"not a Kubernetes version: {kubernetes_version!r}")
    return {
        "major": match.group(1),
        "minor": match.group(2),
        "gitVersion": kubernetes_version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.23.6",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def version_response(kubernetes_version: str) -> web.Response:
    """`GET /version`, never cached (the dispatcher calls it to choose a kubectl)."""
    response = json_response(version_info(kubernetes_version))
    response.headers["Cache-Control"] = "no-cache, private"
    return response


def _wants_aggregated(request: web.Request) -> bool:
    return accepts(request, "application", "json", _AGGREGATED_PARAMS)


def api_response(request: web.Request) -> web.Response:
    """`GET /api`: the core group's versions, or its aggregated discovery document."""
    if _wants_aggregated(request):
        group = {"metadata": {"creationTimestamp": None}, "versions": [_aggregated_version()]}
        return _aggregated([group])
    return json_response(
        {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": request.host}],
        }
    )


def apis_response(request: web.Request) -> web.Response:
    """`GET /apis`: the named groups (discovery.k8s.io, authorization.k8s.io). It must answer 200: kubectl gives up
    on a 404 here."""
    if _wants_aggregated(request):
        return _aggregated([_aggregated_group(group_version) for group_version in _GROUP_VERSIONS])
    groups = []
    for group_version in _GROUP_VERSIONS:
        group, _, version = group_version.partition("/")
        entry = {"groupVersion": group_version, "version": version}
        groups.append({"name": group, "versions": [entry], "preferredVersion": entry})
    return json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})


def api_v1_response() -> web.Response:
    """`GET /api/v1`: the legacy APIResourceList, subresources included."""
    return _resource_list("v1", RESOURCES)


def group_version_response(group_version: str) -> web.Response:
    """`GET /apis/<group>/<version>`: that version's APIResourceList; 404 for a group podrun does not serve."""
    if group_version in REVIEWS:
        entries = [
            {"name": name, "singularName": kind.lower(), "namespaced": False, "kind": kind, "verbs": ["create"]}
            for name, kind in REVIEWS[group_version].items()
        ]
        return json_response({"kind": "APIResourceList", "groupVersion": group_version, "resources": entries})
    resources = GROUP_RESOURCES.get(group_version)
    if resources is None:
        raise web.HTTPNotFound()
    return _resource_list(group_version, resources)


def _resource_list(group_version: str, resources: dict[str, Resource]) -> web.Response:
    entries: list[JSON] = []
    for resource in resources.values():
        entry: JSON = {
            "name": resource.name,
            "singularName": resource.singular,
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": list(resource.verbs),
        }
        if resource.short_names:
            entry["shortNames"] = list(resource.short_names)
        if resource.categories:
            entry["categories"] = list(resource.categories)
        entries.append(entry)
        entries.extend(
            {
                "name": f"{resource.name}/{sub.name}",
                "singularName": "",
                "namespaced": resource.namespaced,
                **({"group": sub.group_version[0], "version": sub.group_version[1]} if sub.group_version else {}),
                "kind": sub.kind,
                "verbs": list(sub.verbs),
            }
            for sub in resource.subresources
        )
    entries.sort(key=lambda entry: entry["name"])
    return json_response({"kind": "APIResourceList", "groupVersion": group_version, "resources": entries})


def _aggregated_group(group_version: str) -> JSON:
    group, _, version = group_version.partition("/")
    if group_version in REVIEWS:
        entries = [
            {
                "resource": name,
                "responseKind": {"group": group, "version": version, "kind": kind},
                "scope": "Cluster",
                "singularResource": kind.lower(),
                "verbs": ["create"],
            }
            for name, kind in REVIEWS[group_version].items()
        ]
    else:
        resources = GROUP_RESOURCES[group_version]
        entries = [_aggregated_resource(resource) for resource in sorted(resources.values(), key=_name)]
    return {
        "metadata": {"name": group, "creationTimestamp": None},
        "versions": [{"version": version, "resources": entries, "freshness": "Current"}],
    }


def _aggregated(groups: list[JSON]) -> web.Response:
    body = {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": groups}
    return json_response(body, content_type=AGGREGATED_CONTENT_TYPE)


def _aggregated_version() -> JSON:
    return {
        "version": "v1",
        "resources": [_aggregated_resource(resource) for resource in sorted(RESOURCES.values(), key=_name)],
        "freshness": "Current",
    }


def _name(resource: Resource) -> str:
    return resource.name


def _aggregated_resource(resource: Resource) -> JSON:
    entry: JSON = {
        "resource": resource.name,
        "responseKind": {"group": resource.group, "version": resource.version, "kind": resource.kind},
        "scope": "Namespaced" if resource.namespaced else "Cluster",
        "singularResource": resource.singular,
        "verbs": list(resource.verbs),
    }
    if resource.short_names:
        entry["shortNames"] = list(resource.short_names)
    if resource.categories:
        entry["categories"] = list(resource.categories)
    if resource.subresources:
        entry["subresources"] = [
            {
                "subresource": sub.name,
                "responseKind": {
                    "group": sub.group_version[0] if sub.group_version else resource.group,
                    "version": sub.group_version[1] if sub.group_version else resource.version,
                    "kind": sub.kind,
                },
                "verbs": list(sub.verbs),
            }
            for sub in resource.subresources
        ]
    return entry
