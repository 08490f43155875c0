"""Services in nftables, modelled on kube-proxy's nftables mode: a pure renderer and an atomic apply.

The rules live in podrun's own `table ip podrun` inside the node network namespace. Each apply replaces
the whole table in one `nft -f -` transaction (add, delete, recreate), so packets never see half a ruleset,
and nothing outside the table (the host's firewall, other tables) is ever touched.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from podrun.runtime import linux

TABLE = "podrun"
MASQUERADE_MARK = "0x4000"


@dataclass(frozen=True)
class ServiceRule:
    """One port of one Service: traffic to `cluster_ip:port/protocol` goes to a random endpoint."""

    namespace: str
    name: str
    cluster_ip: str
    port: int
    protocol: str = "TCP"
    port_name: str = ""
    endpoints: list[tuple[str, int]] = field(default_factory=list)

    @property
    def key(self) -> str:
        """kube-proxy's `ns/name/proto/portname` naming of a service port."""
        return f"{self.namespace}/{self.name}/{self.protocol.lower()}/{self.port_name or self.port}"


def render(rules: list[ServiceRule]) -> str:
    """The `nft -f` text replacing podrun's table with one carrying `rules`."""
    out = [
        f"add table ip {TABLE}",
        f"delete table ip {TABLE}",
        f'add table ip {TABLE} {{ comment "rules for podrun services" ; }}',
        *_base_chains(),
    ]
    elements = []
    for rule in sorted(rules, key=lambda rule: (rule.key, rule.cluster_ip)):
        element = f"{rule.cluster_ip} . {rule.protocol.lower()} . {rule.port}"
        if not rule.endpoints:
            reject = f'{element} comment "{rule.key}" : goto reject-chain'
            elements.append(f"add element ip {TABLE} no-endpoint-services {{ {reject} }}")
            continue
        chain = f"service-{rule.key}"
        endpoints = sorted(rule.endpoints)
        # chains must exist before a verdict map or an element names them
        out.append(f"add chain ip {TABLE} {chain}")
        for ip, port in endpoints:
            ep_chain = _endpoint_chain(rule, (ip, port))
            out.append(f"add chain ip {TABLE} {ep_chain}")
            out.append(f"add rule ip {TABLE} {ep_chain} ip saddr {ip} jump mark-for-masquerade")
            out.append(f"add rule ip {TABLE} {ep_chain} meta l4proto {rule.protocol.lower()} dnat to {ip}:{port}")
        verdicts = ", ".join(f"{i} : goto {_endpoint_chain(rule, ep)}" for i, ep in enumerate(endpoints))
        out.append(f"add rule ip {TABLE} {chain} numgen random mod {len(endpoints)} vmap {{ {verdicts} }}")
        elements.append(f"add element ip {TABLE} service-ips {{ {element} : goto {chain} }}")
    out.extend(elements)
    return "".join(line + "\n" for line in out)


def _endpoint_chain(rule: ServiceRule, endpoint: tuple[str, int]) -> str:
    return f"endpoint-{rule.key}__{endpoint[0]}/{endpoint[1]}"


def _base_chains() -> list[str]:
    t = f"ip {TABLE}"
    verdict_map = "{ type ipv4_addr . inet_proto . inet_service : verdict ; }"
    return [
        f"add chain {t} mark-for-masquerade",
        f"add rule {t} mark-for-masquerade mark set mark or {MASQUERADE_MARK}",
        f"add chain {t} masquerading",
        f"add rule {t} masquerading mark and {MASQUERADE_MARK} == 0 return",
        f"add rule {t} masquerading mark set mark xor {MASQUERADE_MARK}",
        f"add rule {t} masquerading masquerade fully-random",
        f"add map {t} service-ips {verdict_map}",
        f"add map {t} no-endpoint-services {verdict_map}",
        f"add chain {t} services",
        f"add rule {t} services ip daddr . meta l4proto . th dport vmap @service-ips",
        f"add chain {t} nat-prerouting {{ type nat hook prerouting priority -100 ; }}",
        f"add rule {t} nat-prerouting jump services",
        f"add chain {t} nat-output {{ type nat hook output priority -100 ; }}",
        f"add rule {t} nat-output jump services",
        f"add chain {t} nat-postrouting {{ type nat hook postrouting priority 100 ; }}",
        f"add rule {t} nat-postrouting jump masquerading",
        f"add chain {t} reject-chain",
        f"add rule {t} reject-chain meta l4proto tcp reject with tcp reset",
        f"add rule {t} reject-chain reject",
        f"add chain {t} service-endpoints-check",
        f"add rule {t} service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services",
        f"add chain {t} filter-forward {{ type filter hook forward priority -110 ; }}",
        f"add rule {t} filter-forward ct state new jump service-endpoints-check",
        f"add chain {t} filter-output {{ type filter hook output priority -110 ; }}",
        f"add rule {t} filter-output ct state new jump service-endpoints-check",
        f"add chain {t} filter-input {{ type filter hook input priority -110 ; }}",
        f"add rule {t} filter-input ct state new jump service-endpoints-check",
    ]


class NftError(Exception):
    """nft refused a ruleset; the message is nft's."""


def apply(netns: Path, rules: list[ServiceRule]) -> None:
    """Replace podrun's table inside the network namespace `netns` with one carrying `rules`, atomically."""
    _nft(netns, render(rules))


def remove(netns: Path) -> None:
    """Delete podrun's table from `netns` (nothing else); no error when it is already gone."""
    _nft(netns, f"add table ip {TABLE}\ndelete table ip {TABLE}\n")


def _nft(netns: Path, script: str) -> None:
    # nft talks netlink in the namespace it starts in; the child inherits this thread's namespace.
    with linux.in_netns(netns):
        done = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise NftError(done.stderr.strip() or f"nft exited with {done.returncode}")
