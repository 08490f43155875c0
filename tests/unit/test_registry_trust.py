"""A pull's CA store: shared by the pulls running at once, kept by none once they end."""

from __future__ import annotations

import gc
import weakref

from podrun.runtime.images.trust import Trust

REGISTRY = "https://registry.example:5000/v2/"


def test_plain_http_and_unverified_requests_get_no_context() -> None:
    trust = Trust()
    assert trust.ssl_for("http://127.0.0.1:5000/v2/", verify=True) is False
    assert trust.ssl_for(REGISTRY, verify=False) is False


def test_pulls_running_at_once_share_one_context() -> None:
    first, second = Trust(), Trust()
    assert first.ssl_for(REGISTRY, verify=True) is second.ssl_for(REGISTRY, verify=True)


def test_no_context_is_kept_once_the_pulls_end() -> None:
    pull = Trust()
    context = pull.ssl_for(REGISTRY, verify=True)
    assert not isinstance(context, bool)
    watched = weakref.ref(context)
    del pull, context
    gc.collect()
    assert watched() is None
