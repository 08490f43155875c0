"""The seed's database example on the real test images: postgres:15, my-app-db-migrator, my-web-app.

One pod holds everything (its containers share the network namespace, so the database is `localhost`):
PostgreSQL as a native sidecar whose startup probe (`pg_isready`) gates the migration, `python manage.py
migrate` as an init container, and `runserver` as the app. Without the sidecar the migration has no database
and fails, which is what makes the seed's pod show `Init:Error` until its database is up.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from kubelet_harness import JSON, container_status, exec_probe, phase_is, pod, run_pod

from podrun.runtime.images.importer import import_archive
from podrun.runtime.local import LocalRuntime

pytestmark = pytest.mark.root

# initdb and the first start of PostgreSQL, or Django's 15 migrations: seconds, on a loaded machine more.
SLOW = 90.0
DB_ENV = [{"name": "DB_HOST", "value": "localhost"}, {"name": "DB_NAME", "value": "myapp"}]


@pytest.fixture
def django_runtime(runtime: LocalRuntime, test_image_archives: dict[str, Path]) -> LocalRuntime:
    """`runtime` with the Django image (`my-app-db-migrator`, `my-web-app`) imported too."""
    import_archive(runtime.images, test_image_archives["django"])
    return runtime


@pytest.fixture
def db_runtime(django_runtime: LocalRuntime, test_image_archives: dict[str, Path]) -> LocalRuntime:
    """`django_runtime` with the postgres image imported too."""
    import_archive(django_runtime.images, test_image_archives["postgres"])
    return django_runtime


def migrator() -> JSON:
    """The seed's init container, with the database on localhost."""
    return {"name": "database-migration", "image": "my-app-db-migrator:latest", "env": DB_ENV,
            "command": ["python", "manage.py", "migrate"]}  # fmt: skip


def web_app(**fields: object) -> JSON:
    """The seed's app container, with the database on localhost."""
    return {"name": "web-app", "image": "my-web-app:latest", "env": DB_ENV, "ports": [{"containerPort": 8000}],
            "command": ["python", "manage.py", "runserver", "0.0.0.0:8000"], **fields}  # fmt: skip


def postgres_sidecar() -> JSON:
    """PostgreSQL 15 as examples/postgres.yaml runs it, started before the migration and ready when it starts."""
    ready = exec_probe("pg_isready", "--host=localhost", "--username=postgres", "--dbname=myapp",
                       failureThreshold=int(SLOW))  # fmt: skip
    return {
        "name": "postgres",
        "image": "postgres:15",
        "restartPolicy": "Always",
        "env": [{"name": "POSTGRES_PASSWORD", "value": "postgres"}, {"name": "POSTGRES_DB", "value": "myapp"}],
        "startupProbe": ready,
    }


async def http_get(runtime: LocalRuntime, uid: str, port: int, path: str = "/") -> str:
    """`GET path` on `port` inside the pod's network namespace; the whole response."""
    [sandbox] = [s for s in await runtime.list_sandboxes() if s.config.uid == uid and s.ready]
    reader, writer = await runtime.dial(sandbox.id, port)
    try:
        writer.write(f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())  # type: ignore[attr-defined]
        return (await asyncio.wait_for(reader.read(), SLOW)).decode()  # type: ignore[attr-defined]
    finally:
        writer.close()  # type: ignore[attr-defined]


async def test_the_migration_fails_while_there_is_no_database(django_runtime: LocalRuntime) -> None:
    """Nothing listens on localhost:5432: `manage.py migrate` exits non-zero, and a Never pod fails."""
    spec = pod("no-db", [web_app()], restart_policy="Never", init_containers=[migrator()])
    async with run_pod(django_runtime, spec) as p:
        status = await p.wait_for(phase_is("Failed"), "the pod to fail", SLOW)
        terminated = container_status(status, "database-migration")["state"]["terminated"]
        assert terminated["reason"] == "Error" and terminated["exitCode"] != 0
        assert any("Connection refused" in line for line in p.log("database-migration"))
        assert p.starts("web-app") == []


async def test_the_migration_applies_every_migration_once_postgres_is_up_and_the_app_answers(
    db_runtime: LocalRuntime,
) -> None:
    """The sidecar's startup probe gates the migration, which applies Django's and the app's migrations;
    then the web app counts visits in the migrated table."""
    spec = pod("db-app", [web_app(readinessProbe={"tcpSocket": {"port": 8000}, "periodSeconds": 1})],
               init_containers=[postgres_sidecar(), migrator()], terminationGracePeriodSeconds=5)  # fmt: skip
    async with run_pod(db_runtime, spec) as p:
        await p.wait_for(lambda s: container_status(s, "web-app").get("ready") is True, "the app to be ready", SLOW)
        [migration] = p.exits("database-migration")
        assert migration.exit_code == 0
        log = p.log("database-migration")
        assert "  Applying auth.0001_initial... OK" in log
        assert "  Applying visits.0001_initial... OK" in log

        first = await http_get(db_runtime, p.uid, 8000)
        assert first.startswith("HTTP/1.1 200 OK")
        assert first.endswith("Hello from my-web-app: 1 visits recorded in database myapp on localhost\n")
        second = await http_get(db_runtime, p.uid, 8000)
        assert "2 visits recorded" in second
