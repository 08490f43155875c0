"""A sync that fails unexpectedly is shown, not only logged: a FailedSync Warning and a waiting reason. No root."""

from __future__ import annotations

from pathlib import Path

from node_fakes import fake_node, simple_pod

from podrun.runtime.protocol import ContainerConfig


def _waiting(status: dict, name: str) -> dict:
    for s in status.get("containerStatuses") or []:
        if s["name"] == name:
            return (s.get("state") or {}).get("waiting") or {}
    return {}


async def test_an_unexpected_failure_of_a_sync_is_a_warning_event_and_a_waiting_reason(tmp_path: Path) -> None:
    async with fake_node(tmp_path) as (node, runtime, host):
        create = runtime.create_container
        failures = [OSError(36, "File name too long")]

        async def create_container(sandbox_id: str, config: ContainerConfig) -> str:
            if failures:
                raise failures.pop()
            return await create(sandbox_id, config)

        runtime.create_container = create_container  # type: ignore[method-assign]
        worker = node.run_pod(simple_pod("app", restart_policy="Always"))
        await host.wait_until(lambda: _waiting(host.latest, "app").get("reason") == "CreateContainerError")
        assert _waiting(host.latest, "app")["message"] == "error syncing pod: [Errno 36] File name too long"
        [event] = [e for e in host.events if e["reason"] == "FailedSync"]
        assert (event["type"], event["message"]) == ("Warning", "error syncing pod: [Errno 36] File name too long")

        await host.wait_until(lambda: "Started" in host.reasons())
        await host.wait_until(lambda: "running" in (host.latest["containerStatuses"][0]["state"]))
        worker.terminate(grace_override=0)
        await host.wait_until(host.terminated.is_set)
