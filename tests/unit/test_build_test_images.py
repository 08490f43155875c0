"""Fast checks of scripts/build-test-images: archive format, layer contents, caching, apt sources.

None of these needs root or network; the nginx image itself (mmdebstrap) is exercised by its post-processing
on a small synthetic rootfs tarball.
"""

import hashlib
import importlib.machinery
import importlib.util
import io
import json
import os
import shutil
import tarfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build-test-images"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def load_script(path: Path = SCRIPT) -> ModuleType:
    """Import the script, which has no .py suffix, as a module."""
    loader = importlib.machinery.SourceFileLoader("build_test_images", str(path))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


bti = load_script()

needs_busybox = pytest.mark.skipif(not Path("/bin/busybox").exists(), reason="needs busybox-static")


def read_archive(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, bytes]]:
    """(manifest, config, {member name: bytes}) of a docker-save archive."""
    with tarfile.open(path) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isreg()}  # type: ignore[union-attr]
    manifest = json.loads(files["manifest.json"])
    config = json.loads(files[manifest[0]["Config"]])
    return manifest, config, files


def layer_members(layer: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        return {m.name: m for m in tar.getmembers()}


def tiny_spec(spec: Any) -> Any:
    """`spec` with a two-entry layer, so its archive can be built without busybox or mmdebstrap."""

    def write_layer(_scratch: Path, layer: Path) -> None:
        bti.write_layer_tar([bti.directory("etc"), bti.regular_file("etc/hello", b"hi\n")], layer)

    return bti.ImageSpec(spec.name, spec.repo_tags, spec.config, spec.created_by, write_layer)


@pytest.mark.parametrize(
    ("spec", "tags", "cmd", "ports", "stop_signal"),
    [
        (bti.BUSYBOX_IMAGE, ["busybox:latest", "busybox:1.28"], ["sh"], None, None),
        (
            bti.NGINX_IMAGE,
            ["nginx:latest", "nginx:alpine"],
            ["nginx", "-g", "daemon off;"],
            {"80/tcp": {}},
            "SIGQUIT",
        ),
        (bti.POSTGRES_IMAGE, ["postgres:15", "postgres:latest"], ["postgres"], {"5432/tcp": {}}, "SIGINT"),
        (
            bti.DJANGO_IMAGE,
            ["my-app-db-migrator:latest", "my-web-app:latest"],
            ["python", "manage.py", "runserver", "0.0.0.0:8000"],
            {"8000/tcp": {}},
            None,
        ),
    ],
)
def test_docker_archive_layout_and_config(
    tmp_path: Path, spec: Any, tags: list[str], cmd: list[str], ports: Any, stop_signal: Any
) -> None:
    spec = tiny_spec(spec)
    archive = bti.build(spec, tmp_path, "0123456789ab")

    assert archive == tmp_path / f"{spec.name}-0123456789ab.tar"
    manifest, config, files = read_archive(archive)
    assert len(manifest) == 1
    assert manifest[0]["RepoTags"] == tags
    [layer_name] = manifest[0]["Layers"]
    layer = files[layer_name]
    diff_id = hashlib.sha256(layer).hexdigest()
    assert layer_name == f"{diff_id}/layer.tar"
    assert manifest[0]["Config"] == hashlib.sha256(files[manifest[0]["Config"]]).hexdigest() + ".json"
    assert config["rootfs"] == {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]}
    assert config["os"] == "linux"
    assert config["architecture"] in ("amd64", "arm64")
    assert config["created"] == "2025-01-01T00:00:00Z"
    assert len(config["history"]) == 1
    assert config["config"]["Env"][0].startswith(PATH_ENV)
    assert config["config"]["Cmd"] == cmd
    assert config["config"].get("ExposedPorts") == ports
    assert config["config"].get("StopSignal") == stop_signal
    assert "local build" in config["config"]["Labels"]["org.opencontainers.image.description"]
    assert layer_members(layer)["etc/hello"].mtime == bti.EPOCH
    assert not list(tmp_path.glob(".build-*")), "scratch directory left behind"


def test_cached_archive_is_returned_without_rebuilding(tmp_path: Path) -> None:
    calls: list[Path] = []
    spec = tiny_spec(bti.BUSYBOX_IMAGE)

    def counting_writer(scratch: Path, layer: Path) -> None:
        calls.append(layer)
        spec.write_layer(scratch, layer)

    counting = bti.ImageSpec(spec.name, spec.repo_tags, spec.config, spec.created_by, counting_writer)

    first = bti.build(counting, tmp_path, "0123456789ab")
    second = bti.build(counting, tmp_path, "0123456789ab")

    assert first == second
    assert len(calls) == 1


def test_only_archives_of_other_recipes_unused_for_a_day_are_removed(tmp_path: Path) -> None:
    """Another branch's checkout may be using its archive right now: only a day without use condemns it."""
    day_old, recent, other_image = (tmp_path / name for name in
                                    ("busybox-aaaaaaaaaaaa.tar", "busybox-bbbbbbbbbbbb.tar", "nginx-aaaaaaaaaaaa.tar"))
    for archive in (day_old, recent, other_image):
        archive.write_bytes(b"from another recipe")
    now = time.time()
    os.utime(day_old, (now - bti.UNUSED_FOR - 60, now - bti.UNUSED_FOR - 60))
    os.utime(other_image, (now - bti.UNUSED_FOR - 60, now - bti.UNUSED_FOR - 60))

    bti.build(tiny_spec(bti.BUSYBOX_IMAGE), tmp_path, "0123456789ab")

    assert not day_old.exists()
    assert recent.exists() and other_image.exists()


def test_failed_build_leaves_no_archive(tmp_path: Path) -> None:
    def broken(_scratch: Path, layer: Path) -> None:
        layer.write_bytes(b"half a layer")
        raise RuntimeError("mmdebstrap died")

    spec = bti.ImageSpec("nginx", ["nginx:latest"], {}, "test", broken)
    with pytest.raises(RuntimeError):
        bti.build(spec, tmp_path, "0123456789ab")
    assert list(tmp_path.iterdir()) == []


def recipe_copy(tmp_path: Path) -> tuple[Path, Path]:
    """(script, recipes directory): a copy of both to edit."""
    shutil.copytree(SCRIPT.parent / "test-images", tmp_path / "test-images")
    shutil.copy(SCRIPT, tmp_path / "build-test-images")
    return tmp_path / "build-test-images", tmp_path / "test-images"


def keys(script: Path, recipes: Path) -> dict[str, str]:
    return {name: bti.cache_key(script, name, recipes) for name in bti.IMAGES}


def test_cache_keys_are_twelve_hex_digits_one_per_image(tmp_path: Path) -> None:
    script, recipes = recipe_copy(tmp_path)
    found = keys(script, recipes)
    assert found == keys(SCRIPT, SCRIPT.parent / "test-images")
    assert all(len(key) == 12 and set(key) <= set("0123456789abcdef") for key in found.values())
    assert len(set(found.values())) == len(found)


def test_editing_shared_code_changes_every_cache_key(tmp_path: Path) -> None:
    script, recipes = recipe_copy(tmp_path)
    before = keys(script, recipes)
    script.write_text(script.read_text() + "\n# changed\n")  # the last section, "caching", is shared
    after = keys(script, recipes)
    assert all(after[name] != before[name] for name in bti.IMAGES)


def test_editing_one_images_section_changes_only_its_cache_key(tmp_path: Path) -> None:
    script, recipes = recipe_copy(tmp_path)
    before = keys(script, recipes)
    script.write_text(script.read_text().replace('SUITE}; "\n    "scripts/build-test-images: the project in /app',
                                                 'SUITE}; "\n    "scripts/build-test-images: the project in /app!'))
    after = keys(script, recipes)
    assert [name for name in bti.IMAGES if after[name] != before[name]] == ["django"]


def test_editing_one_images_files_changes_only_its_cache_key(tmp_path: Path) -> None:
    script, recipes = recipe_copy(tmp_path)
    before = keys(script, recipes)
    entrypoint = recipes / "postgres" / "docker-entrypoint.sh"
    entrypoint.write_text(entrypoint.read_text() + "# changed\n")
    after = keys(script, recipes)
    assert [name for name in bti.IMAGES if after[name] != before[name]] == ["postgres"]


def test_layer_is_sorted_and_reproducible(tmp_path: Path) -> None:
    entries = [bti.regular_file("b", b"2"), bti.directory("a"), bti.regular_file("a/x", b"1")]
    bti.write_layer_tar(entries, tmp_path / "one.tar")
    bti.write_layer_tar(list(reversed(entries)), tmp_path / "two.tar")

    assert (tmp_path / "one.tar").read_bytes() == (tmp_path / "two.tar").read_bytes()
    with tarfile.open(tmp_path / "one.tar") as tar:
        assert tar.getnames() == ["a", "a/x", "b"]
        assert {(m.uid, m.gid, m.mtime) for m in tar.getmembers()} == {(0, 0, bti.EPOCH)}


def test_hard_link_sorted_before_its_target_carries_the_data(tmp_path: Path) -> None:
    link = bti.Entry(bti._info("a-link", tarfile.LNKTYPE, 0o755, linkname="z-file"))
    bti.write_layer_tar([bti.regular_file("z-file", b"data", 0o755), link], tmp_path / "layer.tar")

    with tarfile.open(tmp_path / "layer.tar") as tar:
        first, second = tar.getmembers()
        assert (first.name, first.isreg(), first.size) == ("a-link", True, 4)
        assert (second.name, second.islnk(), second.linkname) == ("z-file", True, "a-link")
        assert tar.extractfile("z-file").read() == b"data"  # type: ignore[union-attr]


@needs_busybox
def test_busybox_layer(tmp_path: Path) -> None:
    bti.write_layer_tar(bti.busybox_entries(), tmp_path / "layer.tar")

    with tarfile.open(tmp_path / "layer.tar") as tar:
        members = {m.name: m for m in tar.getmembers()}
        passwd = tar.extractfile("etc/passwd").read().decode()  # type: ignore[union-attr]
        group = tar.extractfile("etc/group").read().decode()  # type: ignore[union-attr]
    assert members["bin/busybox"].isreg() and members["bin/busybox"].mode == 0o755
    assert members["bin/sh"].issym() and members["bin/sh"].linkname == "busybox"
    assert members["usr/bin/wget"].linkname == "../../bin/busybox"
    assert members["tmp"].mode == 0o1777
    assert members["root"].mode == 0o700
    for name in ("proc", "sys", "dev", "home", "var", "usr/sbin", "sbin"):
        assert members[name].isdir(), name
    assert "etc/hosts" not in members
    assert "root:x:0:0:root:/root:/bin/sh" in passwd.splitlines()
    assert "nobody:x:65534:65534:nobody:/home:/bin/false" in passwd.splitlines()
    assert "www-data:x:33:33:" in passwd
    assert {"root:x:0:", "nogroup:x:65534:", "www-data:x:33:"} <= set(group.splitlines())


def fake_mmdebstrap_tar(path: Path) -> None:
    """A few members shaped like mmdebstrap's output (``./`` prefixes, device nodes, Debian's site)."""

    def add(tar: tarfile.TarFile, name: str, kind: bytes, data: bytes = b"", linkname: str = "") -> None:
        info = tarfile.TarInfo(name)
        info.type, info.size, info.linkname = kind, len(data), linkname
        tar.addfile(info, io.BytesIO(data) if data else None)

    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        add(tar, "./", tarfile.DIRTYPE)
        add(tar, "./dev/", tarfile.DIRTYPE)
        add(tar, "./dev/null", tarfile.CHRTYPE)
        add(tar, "./etc/", tarfile.DIRTYPE)
        add(tar, "./etc/resolv.conf", tarfile.REGTYPE, b"nameserver 10.0.0.1\n")
        add(tar, "./etc/nginx/sites-enabled/default", tarfile.SYMTYPE, linkname="../sites-available/default")
        add(tar, "./usr/bin/perl", tarfile.REGTYPE, b"#perl")
        add(tar, "./usr/bin/perl5.36.0", tarfile.LNKTYPE, linkname="./usr/bin/perl")
        add(tar, "./usr/share/doc/nginx/", tarfile.DIRTYPE)
        add(tar, "./usr/share/doc/nginx/copyright", tarfile.REGTYPE, b"BSD")
        add(tar, "./usr/share/doc/nginx/changelog.Debian.gz", tarfile.REGTYPE, b"gz")
        add(tar, "./usr/share/locale/de/LC_MESSAGES/apt.mo", tarfile.REGTYPE, b"mo")
        add(tar, "./usr/share/nginx/html/index.html", tarfile.REGTYPE, b"Debian's page")
        add(tar, "./var/log/nginx/", tarfile.DIRTYPE)
        add(tar, "./etc/postgresql/15/main/postgresql.conf", tarfile.REGTYPE, b"port = 5432")
        add(tar, "./var/lib/postgresql/15/main/PG_VERSION", tarfile.REGTYPE, b"15")
        add(tar, "./usr/lib/postgresql/15/bin/postgres", tarfile.REGTYPE, b"ELF")
        add(tar, "./usr/lib/postgresql/15/lib/llvmjit.so", tarfile.REGTYPE, b"ELF")


def test_nginx_post_processing(tmp_path: Path) -> None:
    fake_mmdebstrap_tar(tmp_path / "rootfs.tar")
    with tarfile.open(tmp_path / "rootfs.tar") as src:
        bti.write_layer_tar(bti.nginx_entries(src), tmp_path / "layer.tar")

    with tarfile.open(tmp_path / "layer.tar") as tar:
        members = {m.name: m for m in tar.getmembers()}
        read = {name: tar.extractfile(m).read() for name, m in members.items() if m.isreg()}  # type: ignore[union-attr]
    assert "dev" in members and not [n for n in members if n.startswith("dev/")]
    assert "etc/resolv.conf" not in members
    assert "etc/nginx/sites-enabled/default" not in members
    assert "usr/share/doc/nginx/copyright" in members
    assert "usr/share/doc/nginx/changelog.Debian.gz" not in members
    assert not [n for n in members if n.startswith("usr/share/locale/")]
    assert members["usr/bin/perl5.36.0"].linkname == "usr/bin/perl"
    assert members["var/log/nginx"].isdir()

    index = read["usr/share/nginx/html/index.html"]
    assert b"<h1>Welcome to nginx!</h1>" in index and len(index) == 615
    assert b"An error occurred." in read["usr/share/nginx/html/50x.html"]
    conf = read["etc/nginx/conf.d/default.conf"].decode()
    assert "listen       80;" in conf and "[::]" not in conf
    assert "root   /usr/share/nginx/html;" in conf and "/50x.html" in conf


def test_postgres_post_processing_drops_debians_cluster_and_the_jit_and_adds_the_entrypoint(tmp_path: Path) -> None:
    fake_mmdebstrap_tar(tmp_path / "rootfs.tar")
    with tarfile.open(tmp_path / "rootfs.tar") as src:
        bti.write_layer_tar(bti.debian_entries(src, bti.POSTGRES_DROPPED, bti.postgres_added()), tmp_path / "layer.tar")

    with tarfile.open(tmp_path / "layer.tar") as tar:
        members = {m.name: m for m in tar.getmembers()}
        entrypoint = tar.extractfile("usr/local/bin/docker-entrypoint.sh").read().decode()  # type: ignore[union-attr]
    assert not [n for n in members if n.startswith(("etc/postgresql/15", "var/lib/postgresql/15"))]
    assert "usr/lib/postgresql/15/lib/llvmjit.so" not in members
    assert "usr/lib/postgresql/15/bin/postgres" in members
    assert members["usr/local/bin/docker-entrypoint.sh"].mode == 0o755
    assert entrypoint.startswith("#!/bin/sh\n")
    assert "setpriv --reuid=postgres --regid=postgres --init-groups" in entrypoint
    assert members["var/lib/postgresql/data"].isdir() and members["var/lib/postgresql/data"].mode == 0o700
    assert bti.POSTGRES_IMAGE.config["Entrypoint"] == ["docker-entrypoint.sh"]
    assert "PGDATA=/var/lib/postgresql/data" in bti.POSTGRES_IMAGE.config["Env"]
    assert any(e.startswith("PATH=") and e.endswith(":/usr/lib/postgresql/15/bin")
               for e in bti.POSTGRES_IMAGE.config["Env"])


def test_django_layer_holds_the_project_in_app_and_python_on_path(tmp_path: Path) -> None:
    fake_mmdebstrap_tar(tmp_path / "rootfs.tar")
    with tarfile.open(tmp_path / "rootfs.tar") as src:
        bti.write_layer_tar(bti.debian_entries(src, (), bti.django_added()), tmp_path / "layer.tar")

    with tarfile.open(tmp_path / "layer.tar") as tar:
        members = {m.name: m for m in tar.getmembers()}
        settings = tar.extractfile("app/mysite/settings.py").read().decode()  # type: ignore[union-attr]
    assert members["app/manage.py"].mode == 0o755
    assert members["app/visits/migrations/0001_initial.py"].isreg()
    assert not [n for n in members if "__pycache__" in n]
    assert members["usr/local/bin/python"].linkname == "/usr/bin/python3"
    assert 'os.environ.get("DB_HOST"' in settings and 'os.environ.get("DB_NAME"' in settings
    assert 'ALLOWED_HOSTS = ["*"]' in settings
    assert bti.DJANGO_IMAGE.config["WorkingDir"] == "/app"


def test_debian_layers_drop_message_catalogues_everywhere() -> None:
    assert not bti.keep_in_debian_layer("usr/lib/python3/dist-packages/django/conf/locale/de/LC_MESSAGES/django.mo")
    assert bti.keep_in_debian_layer("usr/lib/python3/dist-packages/django/conf/locale/de/formats.py")


def test_apt_sources_reads_one_line_and_deb822(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(
        "# a comment\n"
        "deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://mirror.example/debian bookworm main\n"
        "deb-src http://mirror.example/debian bookworm main\n"
    )
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\n"
        "# http://snapshot.debian.org/archive/debian/20250520T000000Z\n"
        "URIs: http://deb.debian.org/debian\n"
        "Suites: bookworm bookworm-updates\n"
        "Components: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        "\n"
        "Types: deb\n"
        "URIs: http://deb.debian.org/debian-security\n"
        "Suites: bookworm-security\n"
        "Components: main contrib\n"
        "\n"
        "Types: deb\n"
        "URIs: http://off.example/debian\n"
        "Suites: bookworm\n"
        "Components: main\n"
        "Enabled: no\n"
    )
    (tmp_path / "sources.list.d" / "nodesource.sources").write_text(
        "Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\nComponents: main\n"
    )
    (tmp_path / "sources.list.d" / "cloud.list.disabled").write_text("deb http://x.example/ bookworm main\n")

    assert bti.apt_sources(tmp_path) == [
        "deb http://mirror.example/debian bookworm main",
        "deb http://deb.debian.org/debian bookworm main",
        "deb http://deb.debian.org/debian bookworm-updates main",
        "deb http://deb.debian.org/debian-security bookworm-security main contrib",
    ]


def test_root_needs_import(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        bti.main(["--root", "/tmp/x"])
    assert "--root only applies with --import" in capsys.readouterr().err
