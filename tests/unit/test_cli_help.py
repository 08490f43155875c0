"""`podrun --help` says how to start and which environment variables count."""

from __future__ import annotations

from podrun.cli.main import build_parser


def test_help_shows_examples_and_the_environment_variables() -> None:
    text = build_parser().format_help()

    assert "podrun run -f pod.yaml" in text
    assert "PODRUN_ROOT" in text and "PODRUN_RUN_ROOT" in text and "KUBECONFIG" in text
