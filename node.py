"""Silkport validator node: ``python node.py init ...`` and ``python node.py run --home DIR``.

``init`` writes ``HOME/config.json`` and copies the genesis file and the validator key (0600)
into the home; ``run`` opens LevelDB under ``HOME/data``, recovers head, state and persisted votes,
serves the REST API and the peer websocket on one port, and shuts down cleanly on SIGTERM/SIGINT.
Logs are one line per event (``ts level logger event=... key=value``) on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import signal
import sys
from pathlib import Path

from chain.byzantine import MODES as BYZANTINE_MODES
from chain.config import NodeConfig, load_config, save_config
from chain.crypto import load_key_file, save_key_file
from chain.errors import SilkportError
from chain.genesis import load_genesis

LOG_FORMAT = "%(asctime)s.%(msecs)03d %(levelname)s %(name)s %(message)s"


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()), format=LOG_FORMAT, datefmt="%Y-%m-%dT%H:%M:%S", stream=sys.stderr
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def parse_peer(text: str) -> tuple[int, str]:
    index, _, url = text.partition("=")
    if not index.isdigit() or not url.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"peer must be INDEX=http://HOST:PORT, got {text!r}")
    return int(index), url.rstrip("/")


def cmd_init(args: argparse.Namespace) -> int:
    home = Path(args.home)
    home.mkdir(parents=True, exist_ok=True)
    genesis = load_genesis(args.genesis)
    keypair = load_key_file(args.key)
    keys = genesis.validator_keys
    if not 0 <= args.index < len(keys) or keys[args.index] != keypair.public_key:
        raise SilkportError(f"the key is not validator {args.index} of the genesis file")
    host, _, port = args.listen.rpartition(":")
    if Path(args.genesis).resolve() != (home / "genesis.json").resolve():
        shutil.copyfile(args.genesis, home / "genesis.json")
    key_path = home / "validator.key"
    if not key_path.exists():
        save_key_file(key_path, keypair)
    config = NodeConfig(
        index=args.index,
        listen_host=host or "127.0.0.1",
        listen_port=int(port),
        peers=dict(args.peer or []),
        log_level=args.log_level,
    )
    save_config(home, config)
    print(f"initialised node {args.index} in {home} (chain {genesis.chain_id}, listening on {args.listen})")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    home = Path(args.home)
    config = load_config(home)
    setup_logging(args.log_level or config.log_level)
    from chain.runtime import NodeRuntime

    async def main() -> None:
        node = NodeRuntime(home, config, byzantine_mode=args.byzantine)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, node.stop)
        await node.run()

    asyncio.run(main())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="node.py", description="Silkport validator node")
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="write a node home: config, genesis, key")
    init.add_argument("--home", required=True)
    init.add_argument("--genesis", required=True)
    init.add_argument("--key", required=True, help="validator key file (0600)")
    init.add_argument("--index", type=int, required=True, help="this validator's index in the genesis set")
    init.add_argument("--listen", default="127.0.0.1:26657", help="HOST:PORT for the API and /p2p")
    init.add_argument("--peer", action="append", type=parse_peer, help="INDEX=http://HOST:PORT (repeat)")
    init.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    init.set_defaults(func=cmd_init)
    run = sub.add_parser("run", help="run the node in the foreground")
    run.add_argument("--home", required=True)
    run.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    run.add_argument(
        "--byzantine", choices=list(BYZANTINE_MODES), help="misbehave (test chains only, ADR 0016)"
    )
    run.set_defaults(func=cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SilkportError as exc:
        print(f"node.py: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
