"""`bench/compare/floors.py`: a case's floor is the sum of the measured parts it cannot skip, and each goal is
judged against podrun's median and that floor."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from compare import floors  # noqa: E402 (bench/ is not a package on the path)

MEDIANS = {"create_start": 30.0, "start": 6.0, "handoff_start": 6.0, "delete": 8.0, "cni_add": 10.0, "cni_del": 12.0,
           "imports": 150.0, "kubectl": 60.0}  # fmt: skip


def _case(key: str, podrun_ms: float, podman_ms: float | None) -> dict[str, object]:
    variants = {"serve": {"tool": "podrun", "label": "serve", "summary_ms": {"median": podrun_ms}}}
    if podman_ms is not None:
        variants["podman"] = {"tool": "podman", "label": "kube play", "summary_ms": {"median": podman_ms}}
    return {"key": key, "title": key, "variants": variants}


def test_a_podrun_run_pod_start_floor_adds_the_imports_the_network_one_create_and_both_starts() -> None:
    # The app container is created while the init container runs: only its start is on the way.
    floor = floors.case_floor("start", "run", MEDIANS)

    assert floor is not None
    assert floor["floor_ms"] == pytest.approx(150 + 10 + 30 + 6)
    assert floor["formula"] == "imports + cni_add + create_start + start"


def test_a_serve_pod_start_floor_is_kubectl_s_own_apply_and_wait_with_its_poll() -> None:
    # The pod starts while kubectl wait's process does.
    floor = floors.case_floor("start", "serve", MEDIANS)

    assert floor is not None
    assert floor["floor_ms"] == pytest.approx(2 * 60 + 100)
    assert floor["formula"] == "2 x kubectl + wait_poll"


def test_an_init_hand_off_floor_is_the_starts_of_the_containers_created_ahead() -> None:
    floor = floors.case_floor("handoff", "serve", MEDIANS)

    assert floor is not None
    assert floor["floor_ms"] == pytest.approx(3 * 6)


def test_the_seed_pods_hostport_floor_under_serve_is_one_kubectl_one_create_and_both_starts() -> None:
    # The sidecar is created while nginx is created and starts: only its start is on the way; the pod's namespace
    # and address are serve's spare sandbox's, made before it.
    floor = floors.case_floor("seed", "hostport", MEDIANS)

    assert floor is not None
    assert floor["floor_ms"] == pytest.approx(60 + 30 + 6)
    assert floor["formula"] == "kubectl + create_start + start"


def test_many_pods_share_out_their_per_pod_parts_among_the_cpus() -> None:
    floor = floors.case_floor("many", "run", MEDIANS, pods=20, cpus=2)

    assert floor is not None
    assert floor["floor_ms"] == pytest.approx(150 + 20 / 2 * (10 + 2 * 30))


def test_no_floor_when_a_part_it_needs_was_not_measured() -> None:
    assert floors.case_floor("start", "run", {"cni_add": 10.0, "create_start": 30.0}) is None


def test_no_floor_for_a_variant_without_a_formula() -> None:
    assert floors.case_floor("start", "podman", MEDIANS) is None


def test_a_goal_below_the_floor_says_the_floor_stops_it() -> None:
    assert floors.verdict(median=300, goal=150, floor=200) == "not met: the floor is above the goal"


def test_a_goal_above_the_floor_but_missed_says_there_is_room() -> None:
    assert floors.verdict(median=300, goal=250, floor=200) == "not met: room above the floor"


def test_a_median_within_the_goal_meets_it() -> None:
    assert floors.verdict(median=100, goal=150, floor=None) == "met"


def _floors(per_case: dict[str, dict[str, float]] | None = None) -> dict[str, object]:
    return {"components": {name: {"median_ms": value} for name, value in MEDIANS.items()}, "per_case": per_case or {}}


def test_goals_take_the_share_of_podmans_median() -> None:
    [row] = floors.goals([_case("seed", 450, 800)], _floors(), pods=1, cpus=2)

    assert row["goal_ms"] == pytest.approx(0.5 * 800)
    assert row["floor_ms"] == pytest.approx(3 * 60 + 100)
    assert row["verdict"] == "not met: room above the floor"


def test_a_case_floor_uses_the_parts_sampled_during_its_own_rounds() -> None:
    [row] = floors.goals([_case("seed", 400, 600)], _floors({"seed": {"kubectl": 100.0}}), pods=1, cpus=2)

    assert row["floor_ms"] == pytest.approx(3 * 100 + 100)


def test_teardown_uses_the_parts_sampled_during_pod_start() -> None:
    [row] = floors.goals([_case("teardown", 400, 600)], _floors({"start": {"kubectl": 100.0}}), pods=1, cpus=2)

    assert row["floor_ms"] == pytest.approx(100 + 8 + 12)


def test_without_podman_there_is_a_floor_but_no_goal() -> None:
    [row] = floors.goals([_case("start", 300, None)], _floors(), pods=1, cpus=2)

    assert row["goal_ms"] is None and row["floor_ms"] is not None
    assert row["verdict"] == "—"


def test_podrun_run_to_exit_floor_adds_the_imports_one_network_both_starts_and_a_delete() -> None:
    floor = floors.case_floor("run_exit", "run", MEDIANS)

    assert floor is not None
    assert floor["floor_ms"] == pytest.approx(150 + 10 + 30 + 6 + 8)


def test_podruns_own_goals_are_judged_in_milliseconds_on_the_median_and_the_p90() -> None:
    case = {"key": "handoff6", "title": "hand-off", "variants": {
        "serve": {"tool": "podrun", "label": "serve", "summary_ms": {"median": 10.0, "p90": 30.0}}}}  # fmt: skip

    median, p90 = floors.goals([case], _floors(), pods=1, cpus=2)

    assert (median["statistic"], median["goal_ms"], median["goal_ratio"], median["verdict"]) == (
        "median", 12.0, None, "met")
    assert (p90["statistic"], p90["goal_ms"], p90["median_ms"], p90["verdict"]) == (
        "p90", 25.0, 30.0, "not met: room above the floor")
    assert p90["floor_ms"] == pytest.approx(6)
