"""The namespace devnet's plan (names, addresses, who dials what) and its refusals (ADR 0017).

Pure checks: nothing here needs root or creates a namespace (see
``tests/integration/test_netns_topology.py`` and ``tests/e2e/test_netns_blackbox.py`` for that).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from devnet import layout, netns
from devnet.__main__ import main

PLAN = netns.Plan("a1b2c3", 7, 4, wan_node=3, rtt_ms=200, loss=0.01, seed=9)


def test_names_fit_linux_limits_and_carry_the_sweep_prefix() -> None:
    big = netns.Plan("ffffff", 250, netns.MAX_NODES)
    for index in range(big.nodes):
        for name in (big.bridge, big.data_link(index), big.mgmt_link(index)):
            assert len(name) <= 15 and name.startswith(netns.LINK_PREFIX)  # IFNAMSIZ - 1
        assert big.namespace(index).startswith(netns.NS_PREFIX)


def test_addresses_are_private_distinct_and_management_links_are_separate_subnets() -> None:
    big = netns.Plan("ffffff", 250, netns.MAX_NODES)
    data = [ipaddress.ip_address(big.data_address(i)) for i in range(big.nodes)]
    assert len(set(data)) == big.nodes and all(a.is_private for a in data)
    subnets = [ipaddress.ip_network(f"{big.mgmt_address(i)}/30", strict=False) for i in range(big.nodes)]
    assert len(set(subnets)) == big.nodes
    for index, subnet in enumerate(subnets):
        assert ipaddress.ip_address(big.mgmt_root_address(index)) in subnet
        assert all(address not in subnet for address in data)


def test_the_wan_node_reaches_every_peer_only_through_relay_routes() -> None:
    routes = dict(PLAN.proxy_routes())
    for peer in range(3):
        api, p2p = PLAN.peer_endpoints(3, peer)
        assert routes[p2p] == f"{PLAN.data_address(peer)}:{netns.P2P_PORT}"
        assert routes[api.removeprefix("http://")] == f"{PLAN.data_address(peer)}:{netns.API_PORT}"
        theirs_api, theirs_p2p = PLAN.peer_endpoints(peer, 3)  # and they reach it through the relay
        assert routes[theirs_p2p] == PLAN.p2p_listen(3)
        assert routes[theirs_api.removeprefix("http://")] == f"{PLAN.data_address(3)}:{netns.API_PORT}"
        for other in range(3):  # CN to CN is direct
            if other != peer:
                assert PLAN.peer_endpoints(peer, other) == (
                    f"http://{PLAN.data_address(other)}:{netns.API_PORT}",
                    PLAN.p2p_listen(other),
                )
    no_wan = netns.Plan("a1b2c3", 7, 4)
    assert no_wan.proxy_routes() == []
    with pytest.raises(netns.NetnsError, match="no WAN node"):
        netns.proxy_command(no_wan)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("devnet_id", "XYZ", "devnet_id must be 6 lowercase hex"),
        ("slot", 0, "slot must be in 1..250"),
        ("nodes", netns.MAX_NODES + 1, "1..60 nodes"),
        ("wan_node", 4, "--wan-node must be in 0..3"),
        ("rtt_ms", -1, "--rtt-ms must be in 0..10000"),
        ("loss", 0.5, r"--loss must be a fraction in \[0, 0.5\)"),
    ],
)
def test_bad_plans_are_refused_naming_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(netns.NetnsError, match=message):
        netns.Plan(**{**PLAN.to_json(), field: value})
    with pytest.raises(netns.NetnsError, match="manifest key netns is malformed"):
        netns.Plan.from_json({**PLAN.to_json(), "extra": 1})


def test_manifest_round_trip_and_init_commands_use_the_plan(tmp_path: Path) -> None:
    manifest = layout.create_layout(tmp_path / "d", 4, netns_plan=PLAN)
    manifest.save()
    loaded = layout.load_manifest(tmp_path / "d")
    assert loaded.netns_plan == PLAN
    entry = loaded.node(3)
    assert (
        entry.netns == PLAN.namespace(3) and entry.api == PLAN.api_url(3) and entry.p2p == PLAN.p2p_listen(3)
    )
    command = layout.init_command("python", "node.py", loaded, entry, "info")
    peers = [command[i + 1] for i, word in enumerate(command) if word == "--peer"]
    assert peers == [f"{p}={','.join(PLAN.peer_endpoints(3, p))}" for p in range(3)]

    plain = layout.create_layout(tmp_path / "plain", 4)
    plain.save()
    assert layout.load_manifest(tmp_path / "plain").netns_plan is None
    assert "netns" not in (tmp_path / "plain" / layout.MANIFEST).read_text().split('"nodes"')[0]


def test_up_netns_refuses_clearly_without_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    assert main(["up", "--netns", "--detach", "--dir", str(tmp_path / "d")]) == 1
    err = capsys.readouterr().err
    assert "--netns needs root" in err and "Traceback" not in err
    assert not (tmp_path / "d").exists(), "a refused up must leave nothing behind"
    assert main(["bench", "--netns", "--txs", "1"]) == 1
    assert "--netns needs root" in capsys.readouterr().err


def test_wan_flags_and_net_commands_refuse_misuse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["up", "--wan-node", "3", "--dir", str(tmp_path / "d")]) == 1
    assert "--wan-node needs --netns" in capsys.readouterr().err
    layout.create_layout(tmp_path / "plain", 4).save()
    assert main(["net", "isolate", "1", "--dir", str(tmp_path / "plain")]) == 1
    assert "was not created with --netns" in capsys.readouterr().err
    layout.create_layout(tmp_path / "ns", 4, netns_plan=netns.Plan("a1b2c3", 250, 4)).save()
    assert main(["net", "cut", "1", "--dir", str(tmp_path / "ns")]) == 1
    assert "net cut takes 2 node index(es), got 1" in capsys.readouterr().err
    assert main(["net", "isolate", "9", "--dir", str(tmp_path / "ns")]) == 1
    assert "has no node 9" in capsys.readouterr().err


def test_net_and_down_on_a_netns_devnet_refuse_clearly_without_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    layout.create_layout(tmp_path / "ns", 4, netns_plan=netns.Plan("a1b2c3", 250, 4)).save()
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    for argv in (["net", "isolate", "1"], ["down"]):
        assert main([*argv, "--dir", str(tmp_path / "ns")]) == 1
        err = capsys.readouterr().err
        assert "--netns needs root" in err and "Traceback" not in err
