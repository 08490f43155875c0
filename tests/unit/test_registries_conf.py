"""Podman's registries.conf: which files are read, how they merge, and how short names resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from podrun.runtime.images.registries_conf import (
    ContainersRegistries,
    RegistriesConfError,
    is_short_name,
    load_containers_registries,
    registries_conf_files,
    resolve_short_name,
)
from podrun.runtime.images.registry_config import RegistryConfig


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_containers_registries_conf_names_the_main_file(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "CONTAINERS_REGISTRIES_CONF": str(tmp_path / "r.conf")}
    assert registries_conf_files(env)[0] == tmp_path / "r.conf"


def test_the_users_file_replaces_the_system_file_and_its_drop_ins(tmp_path: Path) -> None:
    user = write(tmp_path / ".config/containers/registries.conf", "")
    drop_in = write(tmp_path / ".config/containers/registries.conf.d/10-x.conf", "")
    assert registries_conf_files({"HOME": str(tmp_path)}) == [user, drop_in]


def test_a_drop_in_replaces_search_registries_and_adds_aliases(tmp_path: Path) -> None:
    write(
        tmp_path / ".config/containers/registries.conf",
        'unqualified-search-registries = ["a.io"]\n[aliases]\nx = "a.io/x"\n',
    )
    write(
        tmp_path / ".config/containers/registries.conf.d/10-more.conf",
        'unqualified-search-registries = ["b.io", "c.io"]\n[aliases]\ny = "b.io/y"\n',
    )
    config = load_containers_registries({"HOME": str(tmp_path)})
    assert config.search == ["b.io", "c.io"]
    assert config.aliases == {"x": "a.io/x", "y": "b.io/y"}


def test_registry_tables_give_mirrors_insecure_and_blocked(tmp_path: Path) -> None:
    conf = write(
        tmp_path / "r.conf",
        '[[registry]]\nprefix = "docker.io"\n[[registry.mirror]]\nlocation = "127.0.0.1:5000"\ninsecure = true\n'
        '[[registry]]\nlocation = "bad.io"\nblocked = true\n',
    )
    config = load_containers_registries({"HOME": str(tmp_path), "CONTAINERS_REGISTRIES_CONF": str(conf)})
    assert config.mirrors["docker.io"] == ["127.0.0.1:5000"]
    assert "127.0.0.1:5000" in config.insecure
    assert config.blocked == {"bad.io"}


def test_a_location_rewrite_is_refused_by_name(tmp_path: Path) -> None:
    conf = write(tmp_path / "r.conf", '[[registry]]\nprefix = "docker.io/library"\nlocation = "r.io/lib"\n')
    with pytest.raises(RegistriesConfError, match=re.escape("docker.io/library")):
        load_containers_registries({"HOME": str(tmp_path), "CONTAINERS_REGISTRIES_CONF": str(conf)})


def test_broken_toml_names_the_file(tmp_path: Path) -> None:
    conf = write(tmp_path / "r.conf", "unqualified-search-registries = [\n")
    with pytest.raises(RegistriesConfError, match=re.escape("r.conf: invalid TOML")):
        load_containers_registries({"HOME": str(tmp_path), "CONTAINERS_REGISTRIES_CONF": str(conf)})


@pytest.mark.parametrize(
    ("image", "short"),
    [
        ("busybox", True),
        ("library/busybox:1", True),
        ("quay.io/x/y", False),
        ("localhost/x", False),
        ("h:5000/x", False),
    ],
)
def test_a_short_name_names_no_registry(image: str, short: bool) -> None:
    assert is_short_name(image) == short


def test_a_short_name_is_tried_in_every_search_registry_in_order() -> None:
    found = resolve_short_name("app:1", ["127.0.0.1:5000", "docker.io"], {})
    assert [str(r) for r in found] == ["127.0.0.1:5000/app:1", "docker.io/library/app:1"]


def test_an_alias_wins_over_the_search_registries_and_keeps_the_tag() -> None:
    found = resolve_short_name("app:2", ["docker.io"], {"app": "quay.io/team/app"})
    assert [str(r) for r in found] == ["quay.io/team/app:2"]


def test_without_search_registries_a_short_name_means_docker_hub() -> None:
    assert [str(r) for r in resolve_short_name("busybox", [], {})] == ["docker.io/library/busybox:latest"]


def test_a_qualified_name_is_only_itself() -> None:
    assert [str(r) for r in resolve_short_name("quay.io/x/y", ["a.io"], {"y": "b.io/y"})] == ["quay.io/x/y:latest"]


def test_podruns_own_mirrors_win_over_registries_conf() -> None:
    containers = ContainersRegistries(mirrors={"docker.io": ["conf-mirror:5000"], "quay.io": ["q-mirror:5000"]})
    merged = RegistryConfig(mirrors={"docker.io": ["http://own:5000"]}).with_containers_registries(containers)
    assert merged.mirrors == {"docker.io": ["http://own:5000"], "quay.io": ["q-mirror:5000"]}
