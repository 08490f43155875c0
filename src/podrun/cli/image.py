"""`podrun image pull | import | ls | inspect | rm`."""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn

from podrun.kubelet.images import load_registry_config
from podrun.printers import human_duration, render_table
from podrun.runtime.images.importer import import_archive
from podrun.runtime.images.progress import ProgressEvent
from podrun.runtime.images.registry import PullError, pull_first
from podrun.runtime.images.skopeo_load import load_image
from podrun.runtime.images.store import ImageRecord, ImageStore, ImageStoreError
from podrun.runtime.reference import InvalidReference
from podrun.timestamps import parse_unix


def _err(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def image_command(args: argparse.Namespace) -> int:
    """Dispatch an `image` subcommand."""
    store = ImageStore(args.root)
    handlers = {"pull": _pull, "import": _import, "load": _load, "ls": _ls, "inspect": _inspect, "rm": _rm}
    try:
        return handlers[args.image_command](store, args)
    except (ImageStoreError, InvalidReference, ValueError, OSError) as e:
        return _err(str(e))


def _pull(store: ImageStore, args: argparse.Namespace) -> int:
    config = load_registry_config(args.root)
    candidates = config.candidates(args.reference)
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), console=console, transient=True,
        disable=not console.is_terminal,
    ) as progress:  # fmt: skip
        tasks: dict[str, TaskID] = {}

        def on_progress(event: ProgressEvent) -> None:
            if event.digest not in tasks:
                tasks[event.digest] = progress.add_task(event.digest[7:19], total=event.total or None)
            progress.update(tasks[event.digest], completed=event.done)

        try:
            record = asyncio.run(pull_first(store, candidates, config, progress=on_progress))
        except PullError as e:
            return _err(str(e))
    pulled = next((str(ref) for ref in candidates if str(ref) in record.repo_tags), str(candidates[0]))
    print(f"{pulled}\n{record.id}")
    return 0


def _import(store: ImageStore, args: argparse.Namespace) -> int:
    files: list[Path] = args.files
    if len(files) > 1 and (args.name or args.change):
        return _err("--name and --change describe one image: import one FILE with them")
    if len(files) > 1 and Path("-") in files:
        return _err("standard input (-) is one archive: import it alone")
    failed = False
    for file in files:
        # One archive that fails leaves the others' images in: each import is whole or nothing on its own.
        try:
            records = _import_one(store, file, args.name, args.change)
        except (ImageStoreError, InvalidReference, ValueError, OSError) as e:
            # Most of the importer's messages name the file already; with several files each one must.
            _err(str(e) if len(files) == 1 or str(e).startswith(str(file)) else f"{file}: {e}")
            failed = True
            continue
        for record in records:
            print(f"Loaded image: {', '.join(record.repo_tags) or record.id}")
    return 1 if failed else 0


def _import_one(store: ImageStore, file: Path, name: str | None, changes: list[str]) -> list[ImageRecord]:
    if str(file) == "-":
        # `docker save x | podrun image import -`: the formats are read by random access, so spool it first.
        with tempfile.NamedTemporaryFile(dir=store.tmp, prefix="stdin-", suffix=".tar") as spool:
            shutil.copyfileobj(sys.stdin.buffer, spool)
            spool.flush()
            return import_archive(store, Path(spool.name), name=name, changes=changes)
    return import_archive(store, file, name=name, changes=changes)


def _load(store: ImageStore, args: argparse.Namespace) -> int:
    for record in load_image(store, args.source, name=args.name):
        print(f"Loaded image: {', '.join(record.repo_tags) or record.id}")
    return 0


def _rows(records: list[ImageRecord]) -> list[list[str]]:
    now = time.time()
    rows = []
    for r in records:
        created = ""
        if r.created:
            try:
                stamp = parse_unix(r.created)
                created = human_duration(now - stamp) + " ago"
            except ValueError:
                created = r.created
        for tag in r.repo_tags or ["<none>:<none>"]:
            name, _, version = tag.rpartition(":")
            rows.append([name, version, r.id[7:19], created, f"{r.size / 1e6:.1f}MB"])
    return rows


def _ls(store: ImageStore, args: argparse.Namespace) -> int:
    records = store.images()
    if args.output == "json":
        print(json.dumps([record.to_json() for record in records], indent=4))
        return 0
    if args.quiet:
        for r in records:
            print(r.id)
        return 0
    sys.stdout.write(render_table(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"], _rows(records)))
    return 0


def _inspect(store: ImageStore, args: argparse.Namespace) -> int:
    record = store.resolve(args.image)
    if record is None:
        return _err(f"image {args.image!r} not found")
    doc = record.to_json() | {"config": json.loads(store.read_blob(record.id))}
    print(json.dumps(doc, indent=2))
    return 0


def _rm(store: ImageStore, args: argparse.Namespace) -> int:
    from podrun.runtime.container_record import containers_using_image

    status = 0
    for name in args.images:
        try:
            for line in store.remove(name, in_use=lambda image_id: containers_using_image(args.root, image_id)):
                print(line)
        except ImageStoreError as e:
            status = _err(str(e))
    return status
