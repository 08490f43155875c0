"""A pod's log directory `<ns>_<pod>_<uid>` fits a file name (255 bytes) whatever valid names it is built from."""

from __future__ import annotations

from podrun.kubelet.node_facts import NAME_MAX, pod_log_dir_name

UID = "0b0e8a5e-3c1f-4a53-9f0e-0d8f3b1e2a77"


def test_a_log_directory_is_named_as_the_kubelet_names_it() -> None:
    assert pod_log_dir_name("default", "web", UID) == f"default_web_{UID}"


def test_the_longest_names_get_a_hashed_directory_name_of_the_longest_file_name() -> None:
    name = pod_log_dir_name("n" * 63, "p" * 253, UID)
    assert len(name) == NAME_MAX
    assert name.startswith("n" * 63 + "_ppp")
    assert name.endswith(f"_{UID}")


def test_long_names_that_share_a_start_get_different_directories() -> None:
    assert pod_log_dir_name("default", "p" * 252 + "a", UID) != pod_log_dir_name("default", "p" * 252 + "b", UID)
