"""`podrun run --image`: the one-off pod is the one `kubectl run` builds, and flags that need --image say so."""

from __future__ import annotations

import pytest
import yaml

from podrun.cli.main import main
from podrun.cli.run_image import default_name, kubectl_run_pod


def test_the_pod_is_named_and_labelled_as_kubectl_run_names_it() -> None:
    pod = kubectl_run_pod("web", "nginx", [])

    assert pod["metadata"] == {"creationTimestamp": None, "labels": {"run": "web"}, "name": "web"}
    assert pod["spec"] == {
        "containers": [{"name": "web", "image": "nginx", "resources": {}}],
        "dnsPolicy": "ClusterFirst",
        "restartPolicy": "Always",
    }


def test_words_after_the_separator_are_args_and_with_command_the_command() -> None:
    assert kubectl_run_pod("b", "busybox", ["sh", "-c", "true"])["spec"]["containers"][0]["args"] == [
        "sh",
        "-c",
        "true",
    ]
    container = kubectl_run_pod("b", "busybox", ["sleep", "5"], command=True)["spec"]["containers"][0]
    assert container["command"] == ["sleep", "5"] and "args" not in container


def test_env_port_and_restart_policy_fill_the_container_and_the_pod() -> None:
    pod = kubectl_run_pod("b", "busybox", [], restart="Never", env=["A=1", "B=x=y"], port=8080)

    container = pod["spec"]["containers"][0]
    assert container["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "x=y"}]
    assert container["ports"] == [{"containerPort": 8080}]
    assert pod["spec"]["restartPolicy"] == "Never"


def test_an_env_without_an_equals_sign_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid env: A"):
        kubectl_run_pod("b", "busybox", [], env=["A"])


def test_the_default_name_is_the_image_name_without_registry_tag_or_digest() -> None:
    assert default_name("docker.io/library/busybox:1.36") == "busybox"
    assert default_name("registry:5000/team/My_App@sha256:abc") == "my-app"


def test_dry_run_prints_the_pod_as_kubectl_run_dry_run_client_o_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--image", "busybox", "--dry-run=client", "-o", "yaml", "--", "sh", "-c", "echo hi"]) == 0

    out = capsys.readouterr().out
    assert out.startswith("apiVersion: v1\nkind: Pod\nmetadata:\n  creationTimestamp: null\n")
    assert yaml.safe_load(out)["spec"]["containers"][0]["args"] == ["sh", "-c", "echo hi"]


def test_dry_run_without_output_says_the_pod_would_be_created(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--image", "nginx:1.25", "--dry-run"]) == 0

    assert capsys.readouterr().out == "pod/nginx created (dry run)\n"


@pytest.mark.parametrize(
    "argv",
    [["run"], ["run", "-f", "pod.yaml", "--image", "busybox"], ["run", "-f", "pod.yaml", "--", "true"]],
    ids=["neither", "both", "a-command-without-image"],
)
def test_run_needs_exactly_one_of_filename_and_image(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 1

    assert capsys.readouterr().err.startswith("error: ")
