"""The resources podrun's API serves, described once for discovery, routing and Table printing.

Verbs, short names, categories and subresources are those of a v1.32 API server's core group, so that
`kubectl api-resources`, short names such as `po` and `cm`, and `kubectl get all` behave as against a cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from podrun.printers.pods import POD_COLUMNS, pod_row_conditions, print_pod
from podrun.printers.resources import (
    CONFIGMAP_COLUMNS,
    EVENT_COLUMNS,
    NAMESPACE_COLUMNS,
    NODE_COLUMNS,
    SECRET_COLUMNS,
    print_configmap,
    print_event,
    print_namespace,
    print_node,
    print_secret,
)
from podrun.printers.services import (
    ENDPOINT_SLICE_COLUMNS,
    ENDPOINTS_COLUMNS,
    SERVICE_ACCOUNT_COLUMNS,
    SERVICE_COLUMNS,
    print_endpoint_slice,
    print_endpoints,
    print_service,
    print_service_account,
)

JSON = dict[str, Any]
Printer = Callable[[JSON, datetime], list[Any]]

_ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Subresource:
    """A subresource such as `pods/log`: the kind it answers with and its verbs."""

    name: str
    kind: str
    verbs: tuple[str, ...]
    # The group and version of `kind` when they are not the resource's (as `deployments/scale` answers autoscaling/v1).
    group_version: tuple[str, str] | None = None


@dataclass(frozen=True)
class Resource:
    """One resource of the core v1 group or of a named group's version."""

    name: str
    kind: str
    namespaced: bool
    columns: tuple[JSON, ...]
    printer: Printer
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = _ALL_VERBS
    subresources: tuple[Subresource, ...] = ()
    row_conditions: Callable[[JSON], list[JSON]] = field(default=lambda _obj: [])
    group: str = ""
    version: str = "v1"

    @property
    def api_version(self) -> str:
        """`v1` for the core group, `<group>/<version>` for the others."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        """`pod` for `pods`: the kind in lower case, as the API server reports it."""
        return self.kind.lower()

    @property
    def list_kind(self) -> str:
        """`PodList`."""
        return self.kind + "List"

    def typed(self, obj: JSON) -> JSON:
        """The object with `kind` and `apiVersion` first, as the API server serializes it."""
        rest = {key: value for key, value in obj.items() if key not in ("kind", "apiVersion")}
        return {"kind": self.kind, "apiVersion": self.api_version, **rest}

    def subresource(self, name: str) -> Subresource | None:
        """The named subresource, if this resource has it."""
        return next((sub for sub in self.subresources if sub.name == name), None)


def _print_pod(pod: JSON, now: datetime) -> list[Any]:
    # The API server always prints the wide form; kubectl hides priority-1 columns unless -o wide.
    return print_pod(pod, wide=True, now=now)


def _wrap(printer: Callable[..., list[Any]]) -> Printer:
    return lambda obj, now: printer(obj, now=now)


RESOURCES: dict[str, Resource] = {
    resource.name: resource
    for resource in (
        Resource(
            "pods",
            "Pod",
            namespaced=True,
            columns=POD_COLUMNS,
            printer=_print_pod,
            short_names=("po",),
            categories=("all",),
            subresources=(
                Subresource("attach", "PodAttachOptions", ("create", "get")),
                Subresource("ephemeralcontainers", "Pod", ("get", "patch", "update")),
                Subresource("exec", "PodExecOptions", ("create", "get")),
                Subresource("lifecycle", "PodLifecycle", ("get",), ("podrun.dev", "v1alpha1")),  # docs/lifecycle.md
                Subresource("log", "Pod", ("get",)),
                Subresource("portforward", "PodPortForwardOptions", ("create", "get")),
                Subresource("status", "Pod", ("get", "patch", "update")),
            ),
            row_conditions=pod_row_conditions,
        ),
        Resource(
            "events", "Event", namespaced=True, columns=EVENT_COLUMNS, printer=_wrap(print_event), short_names=("ev",)
        ),
        Resource(
            "configmaps",
            "ConfigMap",
            namespaced=True,
            columns=CONFIGMAP_COLUMNS,
            printer=_wrap(print_configmap),
            short_names=("cm",),
        ),
        Resource("secrets", "Secret", namespaced=True, columns=SECRET_COLUMNS, printer=_wrap(print_secret)),
        Resource(
            "services",
            "Service",
            namespaced=True,
            columns=SERVICE_COLUMNS,
            printer=_wrap(print_service),
            short_names=("svc",),
            categories=("all",),
            verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
            subresources=(Subresource("status", "Service", ("get", "patch", "update")),),
        ),
        Resource(
            "endpoints",
            "Endpoints",
            namespaced=True,
            columns=ENDPOINTS_COLUMNS,
            printer=_wrap(print_endpoints),
            short_names=("ep",),
        ),
        Resource(
            "serviceaccounts",
            "ServiceAccount",
            namespaced=True,
            columns=SERVICE_ACCOUNT_COLUMNS,
            printer=_wrap(print_service_account),
            short_names=("sa",),
        ),
        Resource(
            "namespaces",
            "Namespace",
            namespaced=False,
            columns=NAMESPACE_COLUMNS,
            printer=_wrap(print_namespace),
            short_names=("ns",),
            verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
            subresources=(Subresource("status", "Namespace", ("get", "patch", "update")),),
        ),
        Resource(
            "nodes",
            "Node",
            namespaced=False,
            columns=NODE_COLUMNS,
            printer=_wrap(print_node),
            short_names=("no",),
            subresources=(Subresource("status", "Node", ("get", "patch", "update")),),
        ),
    )
}

GROUP_RESOURCES: dict[str, dict[str, Resource]] = {
    "discovery.k8s.io/v1": {
        "endpointslices": Resource(
            "endpointslices",
            "EndpointSlice",
            namespaced=True,
            columns=ENDPOINT_SLICE_COLUMNS,
            printer=_wrap(print_endpoint_slice),
            group="discovery.k8s.io",
        ),
    },
}
"""The named groups' resources, by group version (`/apis/<group>/<version>`)."""

KIND_TO_RESOURCE = {
    resource.kind: resource
    for resource in (*RESOURCES.values(), *(r for table in GROUP_RESOURCES.values() for r in table.values()))
}
