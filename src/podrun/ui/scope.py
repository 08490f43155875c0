"""What a web UI session (its cookie) may do: read what the pages show, and nothing else.

Browsers send a host's cookies to every port of it (RFC 6265 §8.5), so the session cookie of the UI on
127.0.0.1 also reaches anything else served there over HTTPS, such as a pod behind `kubectl port-forward`. A
cookie that leaks that way must not be worth more than the pages: it reads namespaces, pods, their logs and
lifecycles, events and the UI's own data, and no Secret, ConfigMap or anything else. The bearer token is unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping

from podrun.services.tokens import READ_VERBS, request_attributes

# What the UI's own data (the rendered timeline) is served under; sessions read it.
UI_DATA = "/ui/data/"
# (resource, subresource) of the core group the pages' scripts read (static/pods.js, pod.js): the namespaces
# menu, the pods table, a pod with its events, its log and its lifecycle records.
_PAGE_READS = frozenset({("namespaces", ""), ("pods", ""), ("pods", "log"), ("pods", "lifecycle"), ("events", "")})
WHAT_A_SESSION_READS = "namespaces, pods, their logs and lifecycles, and events"


def session_may(method: str, path: str, query: Mapping[str, str]) -> bool:
    """True when a request is one of the pages' reads, which the session cookie authenticates."""
    if path.startswith(UI_DATA):
        return method in ("GET", "HEAD")
    attributes = request_attributes(method, path, query)
    return (
        attributes is not None
        and attributes.group == ""
        and attributes.verb in READ_VERBS
        and (attributes.resource, attributes.subresource) in _PAGE_READS
    )
