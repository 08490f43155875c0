"""ClusterIP and NodePort allocation with the API server's errors for taken and out-of-range values."""

from __future__ import annotations

import pytest

from podrun.services.allocators import AllocationError, ClusterIPAllocator, NodePortAllocator


def test_a_requested_free_ip_is_given() -> None:
    assert ClusterIPAllocator().allocate("10.96.0.10") == "10.96.0.10"


def test_a_taken_ip_is_refused_with_upstreams_wording() -> None:
    allocator = ClusterIPAllocator(used=["10.96.0.10"])
    with pytest.raises(AllocationError) as caught:
        allocator.allocate("10.96.0.10")
    assert str(caught.value.errors[0]) == (
        'spec.clusterIPs: Invalid value: []string{"10.96.0.10"}: '
        "failed to allocate IP 10.96.0.10: provided IP is already allocated"
    )


def test_an_ip_outside_the_range_is_refused() -> None:
    with pytest.raises(AllocationError) as caught:
        ClusterIPAllocator().allocate("10.97.0.1")
    assert "the provided IP (10.97.0.1) is not in the valid range. The range of valid IPs is 10.96.0.0/16" in str(
        caught.value.errors[0]
    )


def test_dynamic_ips_come_from_above_the_static_band() -> None:
    allocator = ClusterIPAllocator()
    allocated = {allocator.allocate() for _ in range(50)}
    assert len(allocated) == 50
    assert all(int(ip.split(".")[2]) * 256 + int(ip.split(".")[3]) > 256 for ip in allocated)


def test_state_is_rebuilt_from_stored_services_and_released_on_delete() -> None:
    stored = [{"spec": {"clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"]}}, {"spec": {"clusterIP": "None"}}]
    allocator = ClusterIPAllocator.from_services(stored)
    with pytest.raises(AllocationError):
        allocator.allocate("10.96.0.1")
    allocator.release("10.96.0.1")
    assert allocator.allocate("10.96.0.1") == "10.96.0.1"


def test_node_ports_are_allocated_from_the_range() -> None:
    allocator = NodePortAllocator.from_services([{"spec": {"ports": [{"port": 80, "nodePort": 30000}]}}])
    assert allocator.allocate("spec.ports[0].nodePort") == 30001


def test_a_taken_node_port_is_refused() -> None:
    allocator = NodePortAllocator([30080])
    with pytest.raises(AllocationError) as caught:
        allocator.allocate("spec.ports[0].nodePort", 30080)
    assert (
        str(caught.value.errors[0])
        == "spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"
    )


def test_a_node_port_outside_the_range_is_refused() -> None:
    with pytest.raises(AllocationError) as caught:
        NodePortAllocator().allocate("spec.ports[0].nodePort", 8080)
    assert "The range of valid ports is 30000-32767" in str(caught.value.errors[0])
