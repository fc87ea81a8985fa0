"""``node.py init`` peer options and the node config's peer shape (node.py, chain/config.py, ADR 0010)."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import pytest

from chain.config import load_config
from chain.crypto import KeyPair, save_key_file
from chain.errors import ConfigError
from devnet.layout import default_seats, make_genesis

_SPEC = importlib.util.spec_from_file_location("silkport_node_script", Path(__file__).parents[2] / "node.py")
assert _SPEC is not None and _SPEC.loader is not None
node = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(node)


def test_parse_peer_carries_api_and_peer_address() -> None:
    index, peer = node.parse_peer("2=http://10.0.0.2:26657/,10.0.0.2:26656")
    assert index == 2 and peer.api == "http://10.0.0.2:26657" and peer.p2p == "10.0.0.2:26656"


@pytest.mark.parametrize(
    "text",
    ["2=http://h:1", "2=h:1,h:2", "x=http://h:1,h:2", "2=http://h:1,h", "2=http://h:1,h:99999", "2=http://h:1,:5"],
)
def test_parse_peer_refuses_bad_syntax(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="INDEX=http"):
        node.parse_peer(text)


def test_init_writes_tls_by_default_and_plaintext_only_when_asked(tmp_path: Path) -> None:
    keys = [KeyPair.generate() for _ in range(2)]
    genesis = make_genesis(list(zip(default_seats(2), [k.public_key for k in keys], strict=True)),
                           [KeyPair.generate().public_key for _ in range(3)])
    (tmp_path / "genesis.json").write_text(json.dumps(genesis))
    save_key_file(tmp_path / "k0.json", keys[0])
    base = ["init", "--genesis", str(tmp_path / "genesis.json"), "--key", str(tmp_path / "k0.json"), "--index", "0",
            "--listen", "127.0.0.1:30000", "--p2p-listen", "127.0.0.1:30001", "--peer", "1=http://127.0.0.1:30002,127.0.0.1:30003"]
    assert node.main([*base, "--home", str(tmp_path / "tls")]) == 0
    config = load_config(tmp_path / "tls")
    assert config.p2p_tls and config.p2p_listen == "127.0.0.1:30001"
    assert config.peers[1].api == "http://127.0.0.1:30002" and config.peers[1].p2p == "127.0.0.1:30003"
    assert node.main([*base, "--home", str(tmp_path / "plain"), "--insecure-plaintext"]) == 0
    assert load_config(tmp_path / "plain").p2p_tls is False
    with pytest.raises(SystemExit) as info:
        node.main([*base, "--home", str(tmp_path / "bad"), "--p2p-listen", "nowhere"])
    assert info.value.code != 0


def test_old_style_peer_url_is_a_clear_config_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"index": 0, "listen_port": 1, "peers": {"1": "http://h:1"}}))
    with pytest.raises(ConfigError, match="peers.1"):
        load_config(tmp_path)
