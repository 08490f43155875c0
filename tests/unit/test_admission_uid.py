"""Admission gives every new pod a random version 4 UUID as its uid, as the API server does."""

from __future__ import annotations

import uuid

from podrun.kubelet.admission import admit_pod, random_uuid


def test_a_uid_is_a_random_version_4_uuid_in_its_canonical_text() -> None:
    text = random_uuid()

    parsed = uuid.UUID(text)
    assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)


def test_every_admitted_pod_gets_its_own_uid() -> None:
    pods = [admit_pod({"metadata": {"name": "p"}, "spec": {"containers": []}}, "node-1", now=0) for _ in range(100)]

    assert len({pod["metadata"]["uid"] for pod in pods}) == 100
