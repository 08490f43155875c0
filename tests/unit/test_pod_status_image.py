"""A container's status names the image it was created from, not the spec's current one.

After `kubectl set image` on an init container that already completed, the kubelet does not run it again; its
status must keep naming the image that ran, alongside that image's ID (upstream NodeConformance: "should not
restart init container when updated with a new image after finishing").
"""

from __future__ import annotations

from podrun.json_types import JSON
from podrun.kubelet.container_config import container_config
from podrun.kubelet.labels import CONTAINER_IMAGE
from podrun.kubelet.status import convert_container_statuses
from podrun.runtime.protocol import ContainerState, ContainerStatus


def pod(init_image: str) -> JSON:
    return {
        "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
        "spec": {
            "initContainers": [{"name": "setup", "image": init_image}],
            "containers": [{"name": "app", "image": "nginx"}],
        },
    }


def completed_init(annotations: dict[str, str]) -> ContainerStatus:
    return ContainerStatus(
        id="setup-1",
        sandbox_id="sandbox",
        name="setup",
        state=ContainerState.EXITED,
        image="sha256:busybox",
        image_id="sha256:busybox",
        created_at=1000.0,
        started_at=1000.5,
        finished_at=1001.0,
        reason="Completed",
        annotations=annotations,
    )


def init_status(spec: JSON, record: ContainerStatus) -> JSON:
    [status] = convert_container_statuses(
        spec, [record], init=True, probe_state={}, reason_cache={}, previous=None, runtime_name="podrun"
    )
    return status


def test_a_completed_init_container_keeps_the_image_it_ran_after_the_spec_changed() -> None:
    record = completed_init({CONTAINER_IMAGE: "busybox:1.36"})
    status = init_status(pod("busybox:1.37"), record)
    assert (status["image"], status["imageID"]) == ("busybox:1.36", "sha256:busybox")


def test_a_runtime_record_without_the_image_annotation_names_the_spec_image() -> None:
    assert init_status(pod("busybox:1.37"), completed_init({}))["image"] == "busybox:1.37"


def test_the_container_config_records_the_spec_image() -> None:
    spec = pod("busybox:1.36")
    config = container_config(
        spec,
        spec["spec"]["initContainers"][0],
        image_id="sha256:busybox",
        env=(),
        mounts=(),
        log_path="",
        restart_count=0,
    )
    assert config.image == "sha256:busybox"
    assert config.annotations[CONTAINER_IMAGE] == "busybox:1.36"
