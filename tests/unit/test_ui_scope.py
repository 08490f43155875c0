"""What the web UI's session cookie may read: the pages' reads, nothing else (`podrun.ui.scope`)."""

from __future__ import annotations

import pytest

from podrun.ui.scope import session_may

PODS = "/api/v1/namespaces/default/pods"


@pytest.mark.parametrize(
    ("path", "query"),
    [("/api/v1/namespaces", {}), (PODS, {"watch": "1"}), (f"{PODS}/web", {}), (f"{PODS}/web/log", {"follow": "true"}),
     (f"{PODS}/web/lifecycle", {"watch": "true"}), ("/api/v1/namespaces/default/events", {"watch": "1"}),
     ("/ui/data/namespaces/default/pods/web/timeline.svg", {})],
)  # fmt: skip
def test_the_pages_reads_are_allowed(path: str, query: dict[str, str]) -> None:
    assert session_may("GET", path, query)


@pytest.mark.parametrize(
    "path",
    ["/api/v1/namespaces/default/secrets", "/api/v1/secrets", f"{PODS}/web/exec", f"{PODS}/web/attach",
     f"{PODS}/web/portforward", f"{PODS}/web/proxy", "/api/v1/namespaces/default/serviceaccounts",
     "/apis/events.k8s.io/v1/namespaces/default/events", "/version", "/openapi/v2", f"{PODS}/web/../../secrets"],
)  # fmt: skip
def test_everything_else_is_refused(path: str) -> None:
    assert not session_may("GET", path, {})


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_no_write_is_allowed(method: str) -> None:
    assert not session_may(method, PODS, {})
    assert not session_may(method, "/ui/data/namespaces/default/pods/web/timeline.svg", {})
