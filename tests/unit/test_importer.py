"""Importing docker archives, OCI layouts and rootfs tars into the image store."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from podrun.runtime.images.importer import (
    ANNOTATION_CONTAINERD_NAME,
    ANNOTATION_REF_NAME,
    MEDIA_DOCKER_LAYER,
    MEDIA_DOCKER_LAYER_GZIP,
    ArchiveError,
    config_from_changes,
    host_architecture,
    import_archive,
)
from podrun.runtime.images.store import (
    MEDIA_OCI_INDEX,
    MEDIA_OCI_MANIFEST,
    DigestMismatch,
    ImageConfig,
    ImageStore,
)

MEDIA_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OTHER_ARCH = "s390x" if host_architecture() != "s390x" else "riscv64"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            add(tar, name, data)
    return buf.getvalue()


def add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def image_config(layers: list[bytes], arch: str | None = None) -> bytes:
    return json.dumps(
        {
            "architecture": arch or host_architecture(),
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [sha(layer) for layer in layers]},
        }
    ).encode()


def docker_archive(
    path: Path, images: list[tuple[list[bytes], list[str]]], *, gzip_layers: bool = False
) -> Path:
    """A `docker save` archive; each image is (uncompressed layers, RepoTags)."""
    manifest = []
    with tarfile.open(path, "w") as tar:
        for layers, tags in images:
            config = image_config(layers)
            config_name = sha(config).split(":")[1] + ".json"
            add(tar, config_name, config)
            names = []
            for layer in layers:
                blob = gzip.compress(layer, mtime=0) if gzip_layers else layer
                names.append(sha(blob).split(":")[1] + "/layer.tar")
                add(tar, names[-1], blob)
            manifest.append({"Config": config_name, "RepoTags": tags, "Layers": names})
        add(tar, "manifest.json", json.dumps(manifest).encode())
    return path


class Layout:
    """An OCI image layout directory under construction."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs" / "sha256").mkdir(parents=True)
        (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')

    def blob(self, data: bytes, media_type: str, **extra: Any) -> dict[str, Any]:
        (self.root / "blobs" / "sha256" / sha(data).split(":")[1]).write_bytes(data)
        return {"mediaType": media_type, "digest": sha(data), "size": len(data), **extra}

    def image(self, files: dict[str, bytes], arch: str | None = None, **extra: Any) -> dict[str, Any]:
        """Store a one-layer image; returns its manifest descriptor."""
        layer = layer_tar(files)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MEDIA_OCI_MANIFEST,
            "config": self.blob(image_config([layer], arch), MEDIA_OCI_CONFIG),
            "layers": [self.blob(gzip.compress(layer, mtime=0), MEDIA_OCI_LAYER_GZIP)],
        }
        return self.blob(json.dumps(manifest).encode(), MEDIA_OCI_MANIFEST, **extra)

    def nested_index(self, descriptors: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        doc = {"schemaVersion": 2, "mediaType": MEDIA_OCI_INDEX, "manifests": descriptors}
        return self.blob(json.dumps(doc).encode(), MEDIA_OCI_INDEX, **extra)

    def index(self, *descriptors: dict[str, Any]) -> Path:
        doc = {"schemaVersion": 2, "mediaType": MEDIA_OCI_INDEX, "manifests": list(descriptors)}
        (self.root / "index.json").write_text(json.dumps(doc))
        return self.root


def ref_name(name: str) -> dict[str, Any]:
    return {"annotations": {ANNOTATION_REF_NAME: name}}


def tar_of_directory(directory: Path, path: Path) -> Path:
    with tarfile.open(path, "w") as tar:
        tar.add(directory, arcname=".")
    return path


def assert_nothing_committed(store: ImageStore) -> None:
    assert store.images() == []
    assert not (store.root / "tags.json").exists()
    assert list(store.tmp.iterdir()) == []


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "root")


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(tmp_path / "layout")


# -- docker save archives --------------------------------------------------------------------------------


def test_docker_archive_image_is_tagged_with_its_repo_tags(store: ImageStore, tmp_path: Path) -> None:
    layer = layer_tar({"hello.txt": b"hi"})
    archive = docker_archive(tmp_path / "a.tar", [([layer], ["busybox:latest", "example.com/x/y:1"])])

    [record] = import_archive(store, archive)

    assert record.repo_tags == ["docker.io/library/busybox:latest", "example.com/x/y:1"]
    assert store.resolve("busybox") == record
    assert record.layers == [sha(layer)]
    assert (store.layer_path(sha(layer)) / "hello.txt").read_bytes() == b"hi"
    manifest = json.loads(store.read_blob(record.manifest_digest))
    assert manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert manifest["layers"] == [{"mediaType": MEDIA_DOCKER_LAYER, "size": len(layer), "digest": sha(layer)}]


def test_docker_archive_with_gzipped_layers_is_imported(store: ImageStore, tmp_path: Path) -> None:
    layer = layer_tar({"f": b"x"})
    archive = docker_archive(tmp_path / "a.tar", [([layer], ["img:1"])], gzip_layers=True)

    [record] = import_archive(store, archive)

    assert record.layers == [sha(layer)]
    assert record.layer_blobs == [sha(gzip.compress(layer, mtime=0))]
    manifest = json.loads(store.read_blob(record.manifest_digest))
    assert manifest["layers"][0]["mediaType"] == MEDIA_DOCKER_LAYER_GZIP


def test_docker_archive_with_several_images_gives_several_records(store: ImageStore, tmp_path: Path) -> None:
    archive = docker_archive(
        tmp_path / "a.tar",
        [([layer_tar({"a": b"1"})], ["one:latest"]), ([layer_tar({"b": b"2"})], ["two:latest"])],
    )

    records = import_archive(store, archive)

    assert [r.repo_tags for r in records] == [
        ["docker.io/library/one:latest"],
        ["docker.io/library/two:latest"],
    ]


def test_name_adds_a_tag_to_a_docker_archive_image(store: ImageStore, tmp_path: Path) -> None:
    archive = docker_archive(tmp_path / "a.tar", [([layer_tar({"a": b"1"})], ["one:latest"])])

    [record] = import_archive(store, archive, name="mine:2")

    assert record.repo_tags == ["docker.io/library/one:latest", "docker.io/library/mine:2"]


def test_name_for_a_docker_archive_with_several_images_is_an_error(store: ImageStore, tmp_path: Path) -> None:
    archive = docker_archive(
        tmp_path / "a.tar", [([layer_tar({"a": b"1"})], []), ([layer_tar({"b": b"2"})], [])]
    )

    with pytest.raises(ArchiveError, match="holds 2 images"):
        import_archive(store, archive, name="mine")

    assert_nothing_committed(store)


def test_gzipped_docker_archive_is_imported_and_tmp_is_left_empty(store: ImageStore, tmp_path: Path) -> None:
    archive = docker_archive(tmp_path / "a.tar", [([layer_tar({"a": b"1"})], ["one:latest"])])
    compressed = tmp_path / "a.tar.gz"
    compressed.write_bytes(gzip.compress(archive.read_bytes()))

    [record] = import_archive(store, compressed)

    assert record.repo_tags == ["docker.io/library/one:latest"]
    assert list(store.tmp.iterdir()) == []


def test_docker_archive_layer_not_matching_its_diff_id_leaves_nothing_behind(
    store: ImageStore, tmp_path: Path
) -> None:
    layer = layer_tar({"a": b"1"})
    config = image_config([layer_tar({"a": b"other"})])
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, "w") as tar:
        add(tar, "config.json", config)
        add(tar, "l/layer.tar", layer)
        add(tar, "manifest.json", json.dumps([{"Config": "config.json", "Layers": ["l/layer.tar"]}]).encode())

    with pytest.raises(DigestMismatch, match=r"l/layer\.tar"):
        import_archive(store, archive)

    assert_nothing_committed(store)


def test_bad_compressed_layer_in_the_last_image_commits_no_image(store: ImageStore, tmp_path: Path) -> None:
    good, bad = layer_tar({"a": b"1"}), layer_tar({"b": b"2"})
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, "w") as tar:
        add(tar, "good.json", image_config([good]))
        add(tar, "good/layer.tar", gzip.compress(good))
        add(tar, "bad.json", image_config([layer_tar({"b": b"something else"})]))
        add(tar, "bad/layer.tar", gzip.compress(bad))
        manifest = [
            {"Config": "good.json", "RepoTags": ["good:1"], "Layers": ["good/layer.tar"]},
            {"Config": "bad.json", "RepoTags": ["bad:1"], "Layers": ["bad/layer.tar"]},
        ]
        add(tar, "manifest.json", json.dumps(manifest).encode())

    with pytest.raises(DigestMismatch, match="does not match diff ID"):
        import_archive(store, archive)

    assert_nothing_committed(store)


def test_docker_archive_layer_linked_to_another_image_layer_is_followed(
    store: ImageStore, tmp_path: Path
) -> None:
    layer = layer_tar({"shared": b"1"})
    config = image_config([layer])
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, "w") as tar:
        add(tar, "c.json", config)
        add(tar, "first/layer.tar", layer)
        link = tarfile.TarInfo("second/layer.tar")
        link.type, link.linkname = tarfile.SYMTYPE, "../first/layer.tar"
        tar.addfile(link)
        add(tar, "manifest.json", json.dumps([{"Config": "c.json", "Layers": ["second/layer.tar"]}]).encode())

    [record] = import_archive(store, archive)

    assert record.layer_blobs == [sha(layer)]


def test_change_for_a_docker_archive_is_an_error(store: ImageStore, tmp_path: Path) -> None:
    archive = docker_archive(tmp_path / "a.tar", [([layer_tar({"a": b"1"})], ["one:latest"])])

    with pytest.raises(ArchiveError, match="only to a plain rootfs tar"):
        import_archive(store, archive, changes=["CMD x"])


# -- OCI image layouts -----------------------------------------------------------------------------------


def test_oci_layout_directory_is_tagged_from_its_ref_name(store: ImageStore, layout: Layout) -> None:
    root = layout.index(layout.image({"f": b"x"}, **ref_name("example.com/app:1.0")))

    [record] = import_archive(store, root)

    assert record.repo_tags == ["example.com/app:1.0"]
    assert (store.layer_path(record.layers[0]) / "f").read_bytes() == b"x"


def test_oci_layout_tar_is_imported(store: ImageStore, layout: Layout, tmp_path: Path) -> None:
    root = layout.index(layout.image({"f": b"x"}, **ref_name("example.com/app:1.0")))

    [record] = import_archive(store, tar_of_directory(root, tmp_path / "oci.tar"))

    assert record.repo_tags == ["example.com/app:1.0"]


def test_a_name_without_a_tag_means_latest_whatever_the_layout_says(store: ImageStore, layout: Layout) -> None:
    """`--name nginx` is `nginx:latest`, as `docker tag` reads it, not the layout's bare tag `nginx:1.0`."""
    root = layout.index(layout.image({"f": b"x"}, **ref_name("1.0")))

    [record] = import_archive(store, root, name="example.com/app")

    assert record.repo_tags == ["example.com/app:latest"]


def test_a_name_replaces_the_layouts_own_tags(store: ImageStore, layout: Layout) -> None:
    root = layout.index(layout.image({"f": b"x"}, **ref_name("example.com/app:1.0")))

    [record] = import_archive(store, root, name="mine:dev")

    assert record.repo_tags == ["docker.io/library/mine:dev"]


def test_index_entries_naming_one_image_become_one_record_with_every_tag(
    store: ImageStore, layout: Layout
) -> None:
    desc = layout.image({"f": b"x"})
    root = layout.index({**desc, **ref_name("a.io/x:1")}, {**desc, **ref_name("a.io/x:2")})

    [record] = import_archive(store, root)

    assert record.repo_tags == ["a.io/x:1", "a.io/x:2"]


def test_oci_bare_tag_without_a_name_is_an_error(store: ImageStore, layout: Layout) -> None:
    root = layout.index(layout.image({"f": b"x"}, **ref_name("1.0")))

    with pytest.raises(ArchiveError, match="give a name for its repository"):
        import_archive(store, root)

    assert_nothing_committed(store)


def test_containerd_image_name_annotation_tags_the_image(store: ImageStore, layout: Layout) -> None:
    annotations = {ANNOTATION_CONTAINERD_NAME: "docker.io/library/nginx:1.27", ANNOTATION_REF_NAME: "1.27"}
    root = layout.index(layout.image({"f": b"x"}, annotations=annotations))

    [record] = import_archive(store, root)

    assert record.repo_tags == ["docker.io/library/nginx:1.27"]


def test_oci_layout_manifest_is_stored_byte_for_byte(store: ImageStore, layout: Layout) -> None:
    desc = layout.image({"f": b"x"}, **ref_name("example.com/app:1.0"))

    [record] = import_archive(store, layout.index(desc))

    assert record.manifest_digest == desc["digest"]


def test_nested_index_picks_the_host_platform(store: ImageStore, layout: Layout) -> None:
    other = layout.image({"arch": b"other"}, OTHER_ARCH, platform={"os": "linux", "architecture": OTHER_ARCH})
    host = layout.image({"arch": b"host"}, platform={"os": "linux", "architecture": host_architecture()})
    attestation = layout.image({"x": b"att"}, platform={"os": "unknown", "architecture": "unknown"})
    root = layout.index(layout.nested_index([other, attestation, host], **ref_name("example.com/m:1")))

    [record] = import_archive(store, root)

    assert record.manifest_digest == host["digest"]
    assert (store.layer_path(record.layers[0]) / "arch").read_bytes() == b"host"


def test_nested_index_without_the_host_platform_is_an_error(store: ImageStore, layout: Layout) -> None:
    other = layout.image({"arch": b"other"}, OTHER_ARCH, platform={"os": "linux", "architecture": OTHER_ARCH})
    root = layout.index(layout.nested_index([other], **ref_name("example.com/m:1")))

    with pytest.raises(ArchiveError, match=f"no image for linux/{host_architecture()}"):
        import_archive(store, root)

    assert_nothing_committed(store)


def test_oci_blob_not_matching_its_digest_leaves_nothing_behind(store: ImageStore, layout: Layout) -> None:
    desc = layout.image({"f": b"x"}, **ref_name("example.com/app:1.0"))
    manifest = json.loads(layout.root.joinpath("blobs", "sha256", desc["digest"].split(":")[1]).read_bytes())
    layer_file = layout.root / "blobs" / "sha256" / manifest["layers"][0]["digest"].split(":")[1]
    layer_file.write_bytes(gzip.compress(layer_tar({"f": b"tampered"})))

    with pytest.raises(DigestMismatch, match="digest mismatch"):
        import_archive(store, layout.index(desc))

    assert_nothing_committed(store)
    assert not store.has_blob(manifest["layers"][0]["digest"])


def test_malformed_digest_in_a_layout_is_rejected(store: ImageStore, layout: Layout) -> None:
    root = layout.index({"mediaType": MEDIA_OCI_MANIFEST, "digest": "sha256:../../../etc/passwd", "size": 1})

    with pytest.raises(ArchiveError, match="malformed digest"):
        import_archive(store, root)


def test_diff_ids_that_are_not_digests_are_rejected(store: ImageStore, layout: Layout) -> None:
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": ["sha256:../../escape"]}}).encode()
    layer = layer_tar({"f": b"x"})
    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_OCI_MANIFEST,
        "config": layout.blob(config, MEDIA_OCI_CONFIG),
        "layers": [layout.blob(layer, "application/vnd.oci.image.layer.v1.tar")],
    }
    desc = layout.blob(json.dumps(manifest).encode(), MEDIA_OCI_MANIFEST, **ref_name("a.io/b:1"))
    root = layout.index(desc)

    with pytest.raises(ArchiveError, match="diff_ids"):
        import_archive(store, root)

    assert_nothing_committed(store)


# -- rootfs tars -----------------------------------------------------------------------------------------


def test_rootfs_tar_becomes_a_one_layer_image(store: ImageStore, tmp_path: Path) -> None:
    rootfs = layer_tar({"etc/os-release": b"ID=test\n"})
    path = tmp_path / "rootfs.tar"
    path.write_bytes(rootfs)

    [record] = import_archive(store, path, name="myroot:1")

    config = json.loads(store.read_blob(record.id))
    assert record.repo_tags == ["docker.io/library/myroot:1"]
    assert record.layers == [sha(rootfs)]
    assert (config["os"], config["architecture"]) == ("linux", host_architecture())
    assert config["rootfs"] == {"type": "layers", "diff_ids": [sha(rootfs)]}
    assert config["history"][0]["created"] == config["created"]
    assert (store.layer_path(sha(rootfs)) / "etc" / "os-release").read_bytes() == b"ID=test\n"


def test_compressed_rootfs_tar_is_stored_as_given(store: ImageStore, tmp_path: Path) -> None:
    rootfs = layer_tar({"f": b"x"})
    path = tmp_path / "rootfs.tar.gz"
    path.write_bytes(gzip.compress(rootfs))

    [record] = import_archive(store, path, name="myroot")

    assert record.layer_blobs == [sha(path.read_bytes())]
    assert record.layers == [sha(rootfs)]


def test_rootfs_changes_end_up_in_the_image_config(store: ImageStore, tmp_path: Path) -> None:
    path = tmp_path / "rootfs.tar"
    path.write_bytes(layer_tar({"f": b"x"}))

    [record] = import_archive(
        store, path, name="myroot", changes=['CMD ["nginx", "-g", "daemon off;"]', "EXPOSE 80", "ENV A=1"]
    )

    config = store.config(record)
    assert config.cmd == ["nginx", "-g", "daemon off;"]
    assert config.exposed_ports == ["80/tcp"]
    assert config.env == ["A=1"]


def test_rootfs_tar_without_a_name_is_an_error(store: ImageStore, tmp_path: Path) -> None:
    path = tmp_path / "rootfs.tar"
    path.write_bytes(layer_tar({"f": b"x"}))

    with pytest.raises(ArchiveError, match="needs a name"):
        import_archive(store, path)

    assert_nothing_committed(store)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ('CMD ["a", "b"]', ImageConfig(cmd=["a", "b"])),
        ("CMD echo hi", ImageConfig(cmd=["/bin/sh", "-c", "echo hi"])),
        ('ENTRYPOINT ["/init"]', ImageConfig(entrypoint=["/init"])),
        ("entrypoint exec nginx", ImageConfig(entrypoint=["/bin/sh", "-c", "exec nginx"])),
        ("ENV PATH=/bin", ImageConfig(env=["PATH=/bin"])),
        ('ENV A=1 B="two words"', ImageConfig(env=["A=1", "B=two words"])),
        ("ENV GREETING hello  world", ImageConfig(env=["GREETING=hello  world"])),
        ("WORKDIR /srv/app", ImageConfig(working_dir="/srv/app")),
        ("USER 1000:1000", ImageConfig(user="1000:1000")),
        ("EXPOSE 80", ImageConfig(exposed_ports=["80/tcp"])),
        ("EXPOSE 53/udp 8000-8001", ImageConfig(exposed_ports=["53/udp", "8000/tcp", "8001/tcp"])),
        ("STOPSIGNAL SIGQUIT", ImageConfig(stop_signal="SIGQUIT")),
        ('LABEL maintainer="a b" version=1', ImageConfig(labels={"maintainer": "a b", "version": "1"})),
    ],
)
def test_change_instruction_sets_the_config(change: str, expected: ImageConfig) -> None:
    assert ImageConfig.from_json({"config": config_from_changes([change])}) == expected


def test_later_env_change_overrides_an_earlier_one() -> None:
    assert config_from_changes(["ENV A=1 B=2", "ENV A=3"])["Env"] == ["B=2", "A=3"]


def test_relative_workdir_is_relative_to_the_previous_one() -> None:
    assert config_from_changes(["WORKDIR /srv", "WORKDIR app"])["WorkingDir"] == "/srv/app"


def test_unknown_change_instruction_is_rejected() -> None:
    with pytest.raises(ValueError, match='unsupported --change instruction "RUN"'):
        config_from_changes(["RUN make"])


@pytest.mark.parametrize("change", ["EXPOSE http", "EXPOSE 70000", "ENV A=1 B", "LABEL x", "CMD"])
def test_malformed_change_is_rejected(change: str) -> None:
    with pytest.raises(ValueError, match="--change"):
        config_from_changes([change])


# -- files that are not images ---------------------------------------------------------------------------


def test_missing_file_is_an_error(store: ImageStore, tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="no such file"):
        import_archive(store, tmp_path / "nope.tar", name="x")


def test_file_that_is_not_a_tar_is_an_error(store: ImageStore, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"just some text\n" * 100)

    with pytest.raises(ArchiveError, match="not a docker archive, an OCI image layout or a tar file"):
        import_archive(store, path, name="x")

    assert_nothing_committed(store)


def test_directory_that_is_not_an_oci_layout_is_an_error(store: ImageStore, tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="OCI layout"):
        import_archive(store, tmp_path, name="x")
