"""A container's record: what `LocalRuntime` remembers of it, persisted as `<root>/containers/<id>/container.json`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from podrun.runtime.protocol import ContainerState, ContainerStatus


@dataclass
class ContainerRecord:
    """What podrun remembers of a container; persisted as container.json."""

    id: str
    sandbox_id: str
    name: str
    image: str
    image_id: str
    created_at: float
    state: str = ContainerState.CREATED.value
    started_at: float = 0.0
    finished_at: float = 0.0
    exit_code: int = 0
    reason: str = ""
    message: str = ""
    log_path: str = ""
    stop_signal: str = "SIGTERM"
    cgroups_path: str = ""
    # How conmon was started: with a stdin pipe (left open when a client detaches unless stdin_once), a terminal.
    stdin: bool = False
    stdin_once: bool = False
    tty: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)

    def status(self) -> ContainerStatus:
        return ContainerStatus(
            id=self.id, sandbox_id=self.sandbox_id, name=self.name, state=ContainerState(self.state),
            image=self.image, image_id=self.image_id, created_at=self.created_at,
            started_at=self.started_at, finished_at=self.finished_at, exit_code=self.exit_code,
            reason=self.reason, message=self.message, log_path=self.log_path,
            labels=dict(self.labels), annotations=dict(self.annotations),
        )  # fmt: skip


def containers_using_image(root: Path, image_id: str) -> bool:
    """True when any container recorded under `root` (running or not) was made from the image."""
    for record in (Path(root) / "containers").glob("*/container.json"):
        try:
            if json.loads(record.read_text()).get("image_id") == image_id:
                return True
        except (OSError, json.JSONDecodeError):
            continue
    return False
