"""Silkport validator node: ``python node.py init ...`` and ``python node.py run --home DIR``.

``init`` writes ``HOME/config.json`` and copies the genesis file and the validator key (0600)
into the home; ``run`` opens LevelDB under ``HOME/data``, recovers head, state and persisted votes,
serves the REST API on ``--listen`` and the TLS 1.3 peer links on ``--p2p-listen`` (ADR 0010), and
shuts down cleanly on SIGTERM/SIGINT.
Logs are one line per event (``ts level logger event=... key=value``) on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import signal
import ssl
import sys
from pathlib import Path

from chain.api.app import server_ssl_context
from chain.byzantine import MODES as BYZANTINE_MODES
from chain.config import NodeConfig, PeerConfig, load_config, save_config
from chain.crypto import is_encrypted_key_file, key_file_public_key, load_key_file, save_key_file
from chain.errors import SilkportError
from chain.genesis import load_genesis

LOG_FORMAT = "%(asctime)s.%(msecs)03d %(levelname)s %(name)s %(message)s"


def setup_logging(level: str, log_format: str = "text") -> None:
    """Text lines (default) or one JSON object per line (``--log-format json``, chain/logfmt.py, ADR 0024)."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        from chain.logfmt import JsonFormatter

        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(LOG_FORMAT, datefmt="%Y-%m-%dT%H:%M:%S"))
    logging.basicConfig(level=getattr(logging, level.upper()), handlers=[handler])
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


RESYNC_PAUSE_S = 60.0
"""After a state sync that installed nothing, the next one waits this long (a far-behind node must not
restart in a loop when the peers' checkpoint is not far enough ahead to install)."""
PEER_SYNTAX = "INDEX=http://API_HOST:API_PORT,P2P_HOST:P2P_PORT"


def parse_peer(text: str) -> tuple[int, PeerConfig]:
    """``INDEX=API_URL,P2P_HOST:PORT``: the peer's REST API (catch-up) and its peer port."""
    index, _, rest = text.partition("=")
    url, _, p2p = rest.partition(",")
    host, _, port = p2p.rpartition(":")
    if (
        not index.isdigit()
        or not url.startswith(("http://", "https://"))
        or not host
        or not port.isdigit()
        or not 0 < int(port) < 65536
    ):
        raise argparse.ArgumentTypeError(f"peer must be {PEER_SYNTAX}, got {text!r}")
    return int(index), PeerConfig(api=url.rstrip("/"), p2p=p2p)


def parse_api_url(text: str) -> str:
    if not text.startswith(("http://", "https://")) or len(text) > 280 or any(c.isspace() for c in text):
        raise argparse.ArgumentTypeError(f"expected http(s)://HOST:PORT, got {text!r}")
    return text


def parse_listen(text: str) -> str:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return text


def copy_private(source: Path, target: Path) -> None:
    """Copy a file into a new file created with mode 0600 (never readable by others, not even briefly)."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, source.read_bytes())
        os.fsync(fd)
    finally:
        os.close(fd)


def cmd_init(args: argparse.Namespace) -> int:
    home = Path(args.home)
    home.mkdir(parents=True, exist_ok=True)
    genesis = load_genesis(args.genesis)
    public_key = key_file_public_key(args.key)  # an encrypted key is checked and copied still encrypted
    keys = genesis.validator_keys
    if args.index < 0:
        raise SilkportError(f"--index {args.index}: a validator index is 0 or more")
    if args.join and not args.peer:
        raise SilkportError("--join needs --peer for every validator it can reach: it starts by state sync from them")
    if not args.join and (not 0 <= args.index < len(keys) or keys[args.index] != public_key):
        where = f" (it is validator {keys.index(public_key)})" if public_key in keys else ""
        raise SilkportError(
            f"the key is not validator {args.index} of the genesis file{where}; a validator that governance added "
            "after genesis (silkport gov validator-add) is initialised with --join and the --index of "
            "GET /v1/validators (docs/operator-guide.md §4)"
        )
    host, _, port = args.listen.rpartition(":")
    if Path(args.genesis).resolve() != (home / "genesis.json").resolve():
        shutil.copyfile(args.genesis, home / "genesis.json")
    key_path = home / "validator.key"
    if not key_path.exists() and is_encrypted_key_file(args.key):
        copy_private(Path(args.key), key_path)
    elif not key_path.exists():
        save_key_file(key_path, load_key_file(args.key))
    if bool(args.api_tls_cert) != bool(args.api_tls_key):
        raise SilkportError("--api-tls-cert and --api-tls-key go together")
    tls_cert = tls_key = None
    if args.api_tls_cert:
        for flag, source in (("--api-tls-cert", args.api_tls_cert), ("--api-tls-key", args.api_tls_key)):
            if not Path(source).is_file():
                raise SilkportError(f"{flag} {source}: no such file")
        server_ssl_context(args.api_tls_cert, args.api_tls_key)  # fail now (changing nothing), not at run
        for source, name in ((args.api_tls_cert, "api-tls.crt"), (args.api_tls_key, "api-tls.key")):
            shutil.copyfile(source, home / name)
            (home / name).chmod(0o600)
        tls_cert, tls_key = "api-tls.crt", "api-tls.key"
    config = NodeConfig(
        api_tls_cert=tls_cert,
        api_tls_key=tls_key,
        index=args.index,
        listen_host=host or "127.0.0.1",
        listen_port=int(port),
        p2p_listen=args.p2p_listen,
        p2p_tls=not args.insecure_plaintext,
        peers=dict(args.peer or []),
        log_level=args.log_level,
        join=args.join,
        advertise=None if not (args.advertise_api or args.advertise_p2p) else PeerConfig(
            api=(args.advertise_api or f"http://{host or '127.0.0.1'}:{port}").rstrip("/"),
            p2p=args.advertise_p2p or args.p2p_listen,
        ),
    )
    save_config(home, config)
    mode = "PLAINTEXT (insecure)" if args.insecure_plaintext else "TLS 1.3"
    joining = ", joining by state sync" if args.join else ""
    print(
        f"initialised node {args.index} in {home} (chain {genesis.chain_id}, API on {args.listen}, "
        f"peers on {args.p2p_listen}, {mode}{joining})"
    )
    return 0


log = logging.getLogger("silkport.node")


def first_start(home: Path, config: NodeConfig) -> bool:
    """True while the node's store holds nothing above genesis (no data yet, or only the genesis block)."""
    from chain.storage.leveldb import LevelDBKV
    from chain.storage.schema import HEAD, decode_head

    data = config.path(home, config.data_dir)
    if not data.exists():
        return True
    kv = LevelDBKV(data)
    try:
        raw = kv.get(HEAD)
        return raw is None or decode_head(raw)[0] == 0
    finally:
        kv.close()


async def join_precheck(home: Path, config: NodeConfig) -> None:
    """A joining validator's first start: ask the peers whether its key is validator ``index`` (ADR 0027)."""
    from chain.crypto import read_passphrase_file
    from chain.statesync.join import join_precheck as precheck

    passphrase_file = config.key_passphrase_file
    passphrase = read_passphrase_file(config.path(home, passphrase_file)) if passphrase_file else None
    keypair = load_key_file(config.path(home, config.key_file), passphrase)
    genesis = load_genesis(config.path(home, config.genesis_file))
    await precheck(config, keypair.public_key, len(genesis.validator_keys))


def cmd_run(args: argparse.Namespace) -> int:
    home = Path(args.home)
    config = load_config(home)
    if args.key_passphrase_file:
        config = config.model_copy(update={"key_passphrase_file": str(Path(args.key_passphrase_file).resolve())})
    setup_logging(args.log_level or config.log_level, args.log_format)
    from chain.runtime import NodeRuntime

    async def main() -> None:
        from chain.statesync.sync import state_sync

        loop = asyncio.get_running_loop()
        stopped = asyncio.Event()
        synced_at = -RESYNC_PAUSE_S
        state_syncing = args.state_sync or config.join
        while not stopped.is_set():
            if config.join and first_start(home, config):
                await join_precheck(home, config)
            if state_syncing:
                installed = await state_sync(home, config, force=config.join)
                if installed is None:  # skipped or failed: no new attempt for a while (no restart loop)
                    synced_at = loop.time()
            if config.join and first_start(home, config):
                log.error("event=join_refused reason=no_snapshot_installed")
                raise SilkportError(
                    "a joining validator starts from a snapshot, and none could be installed from the peers (see the "
                    "event=state_sync_* lines): are the --peer addresses right, and has a checkpoint passed since "
                    "governance added this key?", code="no_snapshot")
            node = NodeRuntime(home, config, byzantine_mode=args.byzantine)
            def shut_down(node: NodeRuntime = node) -> None:
                stopped.set()
                node.stop()

            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, shut_down)
            # far behind while running: stop, install a snapshot, start again (ADR 0021)
            node.resync_allowed = state_syncing and loop.time() - synced_at >= RESYNC_PAUSE_S
            if not node.resync_allowed and state_syncing:
                loop.call_later(RESYNC_PAUSE_S, setattr, node, "resync_allowed", True)
            await node.run()
            if node.refusal is not None:
                raise SilkportError(node.refusal, code="not_a_validator")
            if not node.resync_requested:
                break

    asyncio.run(main())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="node.py", description="Silkport validator node")
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="write a node home: config, genesis, key")
    init.add_argument("--home", required=True)
    init.add_argument("--genesis", required=True)
    init.add_argument("--key", required=True, help="validator key file (0600)")
    init.add_argument(
        "--index", type=int, required=True,
        help="this validator's index: in the genesis set, or with --join in the current set (GET /v1/validators)",
    )
    init.add_argument(
        "--join", action="store_true",
        help="a validator added by governance after genesis: the key need not be in the genesis set; the node "
        "starts by state sync from its --peer nodes and votes once the certified state names it (ADR 0027)",
    )
    init.add_argument("--listen", default="127.0.0.1:26657", type=parse_listen, help="HOST:PORT of the REST API")
    init.add_argument(
        "--p2p-listen", default="127.0.0.1:26656", type=parse_listen, help="HOST:PORT of the peer port (TLS 1.3)"
    )
    init.add_argument("--peer", action="append", type=parse_peer, help=f"{PEER_SYNTAX} (repeat)")
    init.add_argument(
        "--insecure-plaintext",
        action="store_true",
        help="peer links WITHOUT TLS (test devnets only; every node of the network must agree)",
    )
    init.add_argument("--advertise-api", type=parse_api_url, help="URL where the other validators reach this node's API (default: --listen)")
    init.add_argument(
        "--advertise-p2p", type=parse_listen, help="HOST:PORT where the other validators reach the peer port "
        "(default: --p2p-listen); announced to lower-indexed peers that have no link with this node (ADR 0027)"
    )
    init.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    init.add_argument("--api-tls-cert", help="PEM certificate chain: serve the API over HTTPS (ADR 0011)")
    init.add_argument("--api-tls-key", help="PEM private key of --api-tls-cert")
    init.set_defaults(func=cmd_init)
    run = sub.add_parser("run", help="run the node in the foreground")
    run.add_argument("--home", required=True)
    run.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    run.add_argument(
        "--log-format", choices=["text", "json"], default="text", help="json: one object per line (ts, level, "
        "logger, msg, fields)"
    )
    run.add_argument(
        "--key-passphrase-file", help="passphrase of an encrypted validator key (else $SILKPORT_KEY_PASSPHRASE)"
    )
    run.add_argument(
        "--byzantine", choices=list(BYZANTINE_MODES), help="misbehave (test chains only, ADR 0016)"
    )
    run.add_argument(
        "--state-sync",
        action="store_true",
        help="before starting, install the checkpoint snapshot that f+1 peers serve if it is at least "
        "state_sync_min_blocks (config.json) above this node's head, instead of replaying every block (ADR 0021)",
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
    except ssl.SSLError as exc:
        print(f"node.py: the API TLS certificate or key is not usable: {exc.reason}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
