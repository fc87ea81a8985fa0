"""The asyncio host of one node: feeds events to the pure consensus core and performs its actions.

One task consumes an event queue (messages from peers, timers, transactions, catch-up answers) and
calls :func:`chain.consensus.step`; the actions come back in the order the core fixed and are
performed in that order — **persist, then send**, then timers, then commit (etcd raft's ``Ready``
loop; DESIGN.md §5–6). Block building, validation and commit go to the :class:`~chain.ledger.Ledger`.
The same object implements :class:`chain.api.facade.NodeFacade` for the REST API.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import aiohttp
import yarl
from aiohttp import web

from chain import byzantine, codec, consensus
from chain.api import make_app
from chain.api.app import server_ssl_context
from chain.api.jsonwire import ledger_block_json, ledger_tx_json
from chain.api.validator_auth import sign_request
from chain.config import NodeConfig, PeerConfig
from chain.consensus import events as ev
from chain.consensus.messages import BlockHandle
from chain.consensus.state import reconfigure
from chain.contracts import queries
from chain.crypto import Signer, load_key_file, read_passphrase_file
from chain.dataplane.store import ContentStore
from chain.errors import CatchingUpError, ConfigError, MempoolFullError, SilkportError
from chain.genesis import load_genesis
from chain.ledger import Ledger, decode_raw_block
from chain.metrics import NodeMetrics
from chain.net import PeerNetwork, parse_address
from chain.statesync.join import announce_loop, membership_problem
from chain.statesync.peers import peer_heights, vouched_height
from chain.statesync.source import SnapshotSource
from chain.storage.blockstore import VoteLog
from chain.storage.leveldb import LevelDBKV
from chain.types import Block, CommitCertificate, SignedTx

log = logging.getLogger("silkport.runtime")
CHANNEL_CONSENSUS = 0
CHANNEL_TXS = 1
CATCHUP_MAX_BYTES = 8 * 1024 * 1024
ADMITTED_FRAMES = 50_000
RELAY_ON_CONNECT_TXS = 10_000
RELAY_ON_CONNECT_BYTES = 64 * 1024 * 1024
API_QUEUE_LIMIT = 20_000
"""Events waiting for the consensus core above which the API refuses new transactions with 503 +
Retry-After (ADR 0011: a full queue refuses, it never grows without bound)."""
API_IDLE_TIMEOUT_S = 15.0
"""A connection that has not completed a request within this time is closed (aiohttp's keep-alive
timer also covers a request's unfinished headers): slowloris connections do not pile up (ADR 0011)."""
CONSUME_BATCH = 64
"""Events stepped before the consumer yields to the other tasks (catch-up fetches, peer I/O)."""
RESYNC_PROBE_MS = 5_000
"""While catching up with ``--state-sync``, the peers' heights are asked at most this often (ADR 0021)."""
ADMISSION_PAUSE_LAG = 4
"""Certified blocks behind at which a catching-up node stops admitting transactions (ADR 0026)."""


def now_ms() -> int:
    return int(time.time() * 1000)


class NodeRuntime:
    """A validator process: ledger + replica + peer network + REST API."""

    def __init__(self, home: Path, config: NodeConfig, byzantine_mode: str | None = None) -> None:
        self.home = home
        self.config = config
        genesis = load_genesis(config.path(home, config.genesis_file))
        passphrase_file = config.key_passphrase_file
        passphrase = read_passphrase_file(config.path(home, passphrase_file)) if passphrase_file else None
        self.keypair = load_key_file(config.path(home, config.key_file), passphrase)
        self.kv = LevelDBKV(config.path(home, config.data_dir))
        self.ledger = Ledger(self.kv, genesis)
        self.chain_id = genesis.chain_id
        self.index = config.index
        self._check_membership()
        self.votes = VoteLog(self.kv)
        self.snapshots = SnapshotSource(self.ledger, Signer(self.keypair), lambda: self.index)
        """Serves GET /v1/sync/snapshot (ADR 0021)."""
        self.byzantine = byzantine.make_filter(
            byzantine_mode, test_mode=genesis.params.test_mode, chain_id=self.chain_id, my_index=self.index,
            validators=len(self.ledger.validator_keys), signer=Signer(self.keypair),
        )
        self.metrics = NodeMetrics()
        self.replica_config = consensus.ReplicaConfig(
            chain_id=self.chain_id,
            validators=self.ledger.validator_keys,
            my_index=self.index,
            signer=Signer(self.keypair),
            checkpoint_interval=genesis.params.checkpoint_interval,
            view_timeout_ms=config.timeouts.view_timeout_ms,
            request_timeout_ms=config.timeouts.request_timeout_ms,
            empty_block_interval_ms=config.timeouts.empty_block_interval_ms,
            batch_delay_ms=config.timeouts.batch_delay_ms,
            block_txs=genesis.params.max_block_txs,
            **self._epoch(genesis.params.checkpoint_interval),
        )
        persisted = [value for _key, value in self.votes.load_all()]
        head_certificate = self.ledger.store.certificate(self.ledger.height) if self.ledger.height else None
        self.replica = consensus.new_replica(
            self.replica_config,
            self.ledger.height,
            self.ledger.head_hash,
            persisted,
            head_header=self.ledger.head_header if self.ledger.height else None,
            head_certificate=head_certificate,
        )
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.waiters: dict[bytes, list[asyncio.Future[None]]] = {}
        self.admitted_frames: OrderedDict[bytes, None] = OrderedDict()
        """SHA-256 of tx frames this node admitted: a relayed copy is dropped before it is decoded."""
        self.catchup_task: asyncio.Task[None] | None = None
        self.catchup_wanted: tuple[int, int, tuple[int, ...]] | None = None
        """The newest RequestCatchUp that arrived while a fetch was running (started when it ends)."""
        self.net = PeerNetwork(
            self.chain_id,
            self.index,
            self.keypair,
            self.ledger.validator_keys,
            {int(i): peer.p2p for i, peer in config.peers.items()},
            self._on_frame,
            listen=parse_address(config.p2p_listen),
            tls=config.p2p_tls,
            on_connect=self._on_peer_connected,
            log=logging.getLogger("silkport.net"),
        )
        self.app = make_app(
            self,
            max_body_bytes=config.max_body_bytes,
            rate_per_second=genesis.params.api_rate_per_second,
            budgets=config.api_budgets,
            clock_ms=self.now,
            content_store=ContentStore(home),
            delivery_key=self.keypair,
        )
        self.started_ms = self.now()
        self._stopping = asyncio.Event()
        self.resync_allowed = False
        """Set by ``node.py run --state-sync``: a catch-up at least ``state_sync_resync_blocks`` long stops
        this runtime instead, so the node installs a snapshot and starts again (ADR 0021)."""
        self.resync_requested = False
        self.refusal: str | None = None
        """Why the node stopped itself (removed from the validator set): ``node.py run`` exits non-zero."""
        self._resync_probe: asyncio.Task[None] | None = None
        self._resync_probed_ms = 0

    def _check_membership(self) -> None:
        """Vote only as validator ``index`` of the certified state at the head (ADR 0027): a key that governance
        has not added yet, moved or removed stops the node here with the reason, before any vote."""
        pending = queries.validators(self.ledger.state_get, pending=True)
        pending_keys = None if pending is None else tuple(bytes.fromhex(v["public_key"]) for v in pending)
        problem = membership_problem(self.ledger.validator_keys, self.index, self.keypair.public_key,
                                     self.ledger.height, pending_keys)
        if problem is not None:
            log.error("event=validator_refused height=%d index=%d reason=%s", self.ledger.height, self.index, problem)
            self.ledger.close()
            raise ConfigError(problem, code="not_a_validator")

    def _epoch(self, interval: int) -> dict[str, Any]:
        """``previous_validators`` and ``epoch_start`` when the latest checkpoint at or below the head changed
        the set (a replica restarted there checks the checkpoint's certificate against the old set)."""
        checkpoint = self.ledger.height - self.ledger.height % interval
        if checkpoint == 0:
            return {}
        before = self.ledger.validators_at(checkpoint - 1)
        if before is None or before == self.ledger.validator_keys:
            return {}
        return {"previous_validators": before, "epoch_start": checkpoint + 1}

    def now(self) -> int:
        """This node's clock in ms: the wall clock plus the configured ``clock_offset_ms``."""
        return now_ms() + self.config.clock_offset_ms

    # --- lifecycle -------------------------------------------------------------------------------

    async def run(self) -> None:
        runner = web.AppRunner(self.app, access_log=None, keepalive_timeout=API_IDLE_TIMEOUT_S)
        await runner.setup()
        ssl_context = None
        if self.config.api_tls_cert and self.config.api_tls_key:
            ssl_context = server_ssl_context(
                str(self.config.path(self.home, self.config.api_tls_cert)),
                str(self.config.path(self.home, self.config.api_tls_key)),
            )
        site = web.TCPSite(runner, self.config.listen_host, self.config.listen_port, ssl_context=ssl_context)
        await site.start()
        log.info(
            "event=node_started index=%d height=%d port=%d p2p=%s tls=%s",
            self.index, self.ledger.height, self.config.listen_port, self.config.p2p_listen, self.config.p2p_tls,
        )
        if self.config.clock_offset_ms:
            log.warning("event=clock_offset offset_ms=%d (simulated time; every validator needs the same)",
                        self.config.clock_offset_ms)
        await self.net.start()
        self.queue.put_nowait(ev.Start(self.now()))
        consumer = asyncio.create_task(self._consume())
        announcer = asyncio.create_task(self._announce())
        await self._stopping.wait()
        consumer.cancel()
        announcer.cancel()
        if self._resync_probe is not None:
            self._resync_probe.cancel()
        for handle in self.timers.values():
            handle.cancel()
        await self.net.stop()
        await runner.cleanup()
        self.ledger.close()
        log.info("event=node_stopped index=%d height=%d", self.index, self.ledger.height)

    def stop(self) -> None:
        self._stopping.set()

    # --- peer addresses (ADR 0027) -----------------------------------------------------------------

    async def _announce(self) -> None:
        """Announce this node to the lower-indexed peers it has no link with (they dial; a validator added
        by governance is in nobody's config)."""
        advertise = self.config.advertise or PeerConfig(
            api=f"{'https' if self.config.api_tls_cert else 'http'}://{self.config.listen_host}:{self.config.listen_port}",
            p2p=self.config.p2p_listen)

        def sign(method: str, path_qs: str) -> dict[str, str]:
            return sign_request(self.keypair, self.index, self.chain_id, method, path_qs, self.now(),
                                secrets.token_bytes(16))

        def lower_peers() -> dict[int, str]:
            return {int(i): peer.api for i, peer in self.config.peers.items() if int(i) < self.index}

        await announce_loop(sign, lower_peers, self.net.connected, advertise.p2p, advertise.api)

    def peer_announced(self, index: int, p2p: str, api: str) -> dict[str, Any]:
        """``POST /v1/peers/announce`` from validator ``index`` (signature checked by the route): remember
        its addresses (in memory: it announces again after our restart) and dial it if it is ours to dial."""
        address = PeerConfig(api=api, p2p=p2p)
        if self.config.peers.get(index) != address:
            log.info("event=peer_announced index=%d p2p=%s api=%s", index, p2p, api)
            self.config = self.config.model_copy(update={"peers": {**self.config.peers, index: address}})
            self.net.set_validators(self.ledger.validator_keys, {i: p.p2p for i, p in self.config.peers.items()})
        return {"index": index, "p2p": p2p, "api": api, "dialling": index > self.index}

    async def _consume(self) -> None:
        handled = 0
        while True:
            event = await self.queue.get()
            try:
                self._step(event)
            except Exception:  # a bug must not kill the node silently: log it with context
                log.exception("event=step_failed kind=%s", type(event).__name__)
            handled += 1
            if handled % CONSUME_BATCH == 0:
                await asyncio.sleep(0)  # a non-empty queue never yields: let fetches and peers run

    def _step(self, event: Any) -> None:
        self.replica, actions = consensus.step(self.replica, event)
        for action in actions:
            self._perform(action)
        self.metrics.observe_replica(self.replica)

    # --- actions ---------------------------------------------------------------------------------

    def _perform(self, action: Any) -> None:
        if self.byzantine is not None and isinstance(action, consensus.Broadcast | consensus.Send):
            return self.byzantine.deliver(action, self.net, CHANNEL_CONSENSUS)  # test chains only (ADR 0016)
        if isinstance(action, consensus.PersistVote):
            self.votes.save(action.key, action.value)
        elif isinstance(action, consensus.Broadcast):
            self.net.broadcast(CHANNEL_CONSENSUS, action.message_bytes)
        elif isinstance(action, consensus.Send):
            self.net.send(action.to_index, CHANNEL_CONSENSUS, action.message_bytes)
        elif isinstance(action, consensus.SetTimer):
            self._set_timer(action.name, action.delay_ms)
        elif isinstance(action, consensus.CancelTimer):
            handle = self.timers.pop(action.name, None)
            if handle is not None:
                handle.cancel()
        elif isinstance(action, consensus.RequestProposal):
            self._propose(action)
        elif isinstance(action, consensus.ExecuteBlock):
            self._execute(action.handle, certified=action.certified)
        elif isinstance(action, consensus.CommitBlock):
            self._commit(action.block, action.certificate, sync=action.sync)
        elif isinstance(action, consensus.RequestCatchUp):
            self._start_catchup(action.from_height, action.to_height, tuple(action.peers))
        elif isinstance(action, consensus.RelayRequests):
            self._relay(action.tx_hashes)
        else:
            log.error("event=unknown_action kind=%s", type(action).__name__)

    def _execute(self, handle: BlockHandle, *, certified: bool = False) -> None:
        """Validate and execute a proposed or caught-up block; its transactions that this node already
        admitted are taken from the mempool instead of being parsed again."""
        try:
            block = handle.decoded(self.ledger.mempool.get)
            reason = self.ledger.validate_block(block, self.now(), certified=certified)
        except SilkportError as exc:
            reason = f"undecodable block: {exc.message}"
        if reason:
            log.warning("event=block_rejected height=%d reason=%s", handle.height, reason)
        enacted = None if reason else self.ledger.enacted_validators(handle.block_hash)
        self.queue.put_nowait(ev.BlockExecuted(handle.block_hash, not reason, reason, enacted))

    def _set_timer(self, name: str, delay_ms: int) -> None:
        old = self.timers.pop(name, None)
        if old is not None:
            old.cancel()

        due_ms = self.now() + delay_ms

        def fire() -> None:
            self.timers.pop(name, None)
            self.queue.put_nowait(ev.TimerFired(name, self.now(), due_ms))

        self.timers[name] = asyncio.get_running_loop().call_later(delay_ms / 1000, fire)

    def _propose(self, action: Any) -> None:
        """Answer RequestProposal with ProposalReady, or ProposalFailed if no block could be built: the
        core never waits for an answer that does not come (ADR 0013). Transactions that turned invalid
        are left out of the block by the ledger and reported to the core as dropped first."""
        if action.height != self.ledger.height + 1 or action.prev_hash != self.ledger.head_hash:
            log.info("event=proposal_skipped height=%d head=%d", action.height, self.ledger.height)
            self.queue.put_nowait(ev.ProposalFailed(action.height, action.view, "not on the ledger's head"))
            return
        started = time.perf_counter()
        try:
            block = self.ledger.build_block(action.view, self.now(), self.index)
        except SilkportError as exc:
            log.error("event=proposal_failed height=%d reason=%s", action.height, exc.message)
            self._report_dropped()
            self.queue.put_nowait(ev.ProposalFailed(action.height, action.view, exc.message))
            return
        self.metrics.block_build_seconds.observe(time.perf_counter() - started)
        log.debug("event=proposal_built height=%d txs=%d", block.height, len(block.txs))
        self._report_dropped()
        self.queue.put_nowait(ev.ProposalReady(block, validators=self.ledger.enacted_validators(block.block_hash)))

    def _report_dropped(self) -> None:
        """Tell the core which pending requests left the mempool without committing (RequestsDropped)."""
        dropped = self.ledger.take_dropped()
        if dropped:
            log.info("event=requests_dropped count=%d", len(dropped))
            for tx_hash in dropped:
                for future in self.waiters.pop(tx_hash, []):
                    if not future.done():
                        future.set_result(None)
            self.queue.put_nowait(ev.RequestsDropped(tuple(dropped), self.now()))

    def _commit(self, block: Block, certificate: CommitCertificate, *, sync: bool = True) -> None:
        started = time.perf_counter()
        self.ledger.commit(block, certificate, sync=sync)
        self.metrics.block_commit_seconds.observe(time.perf_counter() - started)
        self.metrics.committed(block)
        if self.ledger.validator_keys != self.net.validators:
            self._install_validators()
        hashes = [tx.tx_hash for tx in block.txs]
        for tx_hash in hashes:
            for future in self.waiters.pop(tx_hash, []):
                if not future.done():
                    future.set_result(None)
        if hashes:
            self.queue.put_nowait(ev.RequestsDone(tuple(hashes), self.now()))
        self._report_dropped()
        log.info(
            "event=block_committed height=%d view=%d txs=%d hash=%s",
            block.height,
            block.header.view,
            len(block.txs),
            block.block_hash.hex()[:16],
        )

    def _install_validators(self) -> None:
        """A governance validator-set change took effect at this checkpoint block."""
        keys = self.ledger.validator_keys
        if self.keypair.public_key not in keys:
            log.error("event=removed_from_validator_set height=%d: stopping", self.ledger.height)
            self.refusal = f"removed from the validator set at height {self.ledger.height}: this key votes no more"
            self.stop()
            return
        self.index = keys.index(self.keypair.public_key)
        reconfigure(self.replica, keys, self.index)  # no-op when the core installed them on commit (ADR 0027)
        self.net.set_validators(keys)
        log.info("event=validator_set_changed height=%d validators=%d index=%d", self.ledger.height, len(keys), self.index)

    # --- catch-up --------------------------------------------------------------------------------

    def _start_catchup(self, from_height: int, to_height: int, peers: tuple[int, ...]) -> None:
        """Start a fetch; while one runs, remember the newest request and start it as soon as the running
        one ends (issue 13: a request dropped here waited for the 4 s catch-up timer)."""
        if self.catchup_task is not None and not self.catchup_task.done():
            self.catchup_wanted = (from_height, to_height, peers)
            return
        self.catchup_wanted = None
        from_height = max(from_height, self.ledger.height + 1)  # blocks committed meanwhile are not asked
        if from_height > to_height:
            return
        self._probe_for_resync()
        self.catchup_task = asyncio.create_task(self._catchup(from_height, to_height, peers))
        self.catchup_task.add_done_callback(self._catchup_done)

    def _probe_for_resync(self) -> None:
        """While catching up (with ``--state-sync``), ask the peers how far ahead they are, at most every
        :data:`RESYNC_PROBE_MS`; the replica only learns the head window by window (ADR 0021)."""
        if not self.resync_allowed or (self._resync_probe is not None and not self._resync_probe.done()):
            return
        if self.now() - self._resync_probed_ms < RESYNC_PROBE_MS:
            return
        self._resync_probed_ms = self.now()
        self._resync_probe = asyncio.create_task(self._resync_if_far_behind())

    async def _resync_if_far_behind(self) -> None:
        """Stop for a state sync when f+1 peers (so at least one correct one) are ``state_sync_resync_blocks``
        ahead: a single lying peer cannot make this node restart."""
        heights = await peer_heights([p.api for i, p in self.config.peers.items() if int(i) != self.index])
        log.debug("event=resync_probe head=%d peer_heights=%s", self.ledger.height, heights)
        vouched = vouched_height(heights, len(self.ledger.validator_keys))
        threshold = max(self.config.state_sync_resync_blocks, self.config.state_sync_min_blocks)
        if vouched is not None and vouched - self.ledger.height >= threshold and not self._stopping.is_set():
            log.info("event=state_sync_requested head=%d peers_at=%d resync_blocks=%d: restarting through state sync",
                     self.ledger.height, vouched, threshold)
            self.resync_requested = True
            self.stop()

    def _catchup_done(self, _task: asyncio.Task[None]) -> None:
        wanted, self.catchup_wanted = self.catchup_wanted, None
        if wanted is not None and not self._stopping.is_set():
            self._start_catchup(*wanted)

    async def _catchup(self, from_height: int, to_height: int, peers: tuple[int, ...]) -> None:
        timeout = aiohttp.ClientTimeout(total=10)
        answer: ev.CatchUpReceived | None = None
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for peer in peers or tuple(self.config.peers):
                address = self.config.peers.get(peer)
                if address is None:
                    continue
                url = address.api
                path_qs = f"/v1/sync/blocks?from={from_height}&to={to_height}"
                headers = sign_request(
                    self.keypair, self.index, self.chain_id, "GET", path_qs, self.now(), secrets.token_bytes(16)
                )
                try:
                    async with session.get(yarl.URL(url + path_qs, encoded=True), headers=headers) as response:
                        if response.status != 200:
                            log.info("event=catchup_peer_refused peer=%d status=%d", peer, response.status)
                            continue
                        payload = await response.read()
                    items = codec.decode(payload, max_size=CATCHUP_MAX_BYTES * 2)
                    pairs = [decode_raw_block(item) for item in items]
                except (TimeoutError, aiohttp.ClientError, SilkportError, ValueError, TypeError) as exc:
                    log.info("event=catchup_peer_failed peer=%d error=%s", peer, exc)
                    continue
                if pairs:
                    log.info("event=catchup_received peer=%d blocks=%d", peer, len(pairs))
                    answer = ev.CatchUpReceived(pairs, peer)
                    break
        if answer is not None:  # handed over after the session closed: the task is done when it is used
            self.queue.put_nowait(answer)

    def _relay(self, tx_hashes: tuple[bytes, ...]) -> None:
        """Send pending transactions to every validator again (receivers drop frames they admitted)."""
        relayed = 0
        for tx_hash in tx_hashes:
            tx = self.ledger.mempool.get(tx_hash)
            if tx is not None:
                self.net.broadcast(CHANNEL_TXS, tx.encode())
                relayed += 1
        log.info("event=requests_relayed count=%d", relayed)

    def _on_peer_connected(self, index: int) -> None:
        """Hand a (re)connected validator the pending transactions: those forwarded while its link was
        down would otherwise reach it only through a request-timer relay."""
        for tx in self.ledger.mempool.select(RELAY_ON_CONNECT_TXS, RELAY_ON_CONNECT_BYTES):
            self.net.send(index, CHANNEL_TXS, tx.encode())

    # --- peer frames -----------------------------------------------------------------------------

    def _on_frame(self, from_index: int, channel: int, payload: bytes) -> None:
        if channel == CHANNEL_CONSENSUS:
            self.queue.put_nowait(ev.MessageReceived(payload, from_index))
        elif channel == CHANNEL_TXS:
            if self._admission_paused():  # the primary has it from the submitting node (ADR 0026)
                self.metrics.txs_rejected.labels(reason="catching_up").inc()
                return
            digest = hashlib.sha256(payload).digest()
            if digest in self.admitted_frames:
                self.metrics.txs_rejected.labels(reason="duplicate_frame").inc()
                return
            try:
                tx = SignedTx.decode(payload, max_size=self.ledger.params.max_tx_bytes)
                self._admit(tx, len(payload), forward=False)
            except SilkportError as exc:
                self.metrics.txs_rejected.labels(reason=exc.code).inc()
                return
            self.admitted_frames[digest] = None
            if len(self.admitted_frames) > ADMITTED_FRAMES:
                self.admitted_frames.popitem(last=False)
            # Relay to the primary (PBFT §4.1: requests go to the primary): if the submitting node's
            # own link to the primary is down, the request still reaches it through a backup.
            primary = self.replica.primary
            if primary not in (self.index, from_index):
                self.net.send(primary, CHANNEL_TXS, payload)

    def _admit(self, tx: SignedTx, size: int, *, forward: bool) -> None:
        self.ledger.admit(tx, size)
        self.metrics.txs_admitted.inc()
        if forward:
            self.net.broadcast(CHANNEL_TXS, tx.encode())
        self.queue.put_nowait(ev.RequestReceived(tx.tx_hash, self.now()))

    # --- NodeFacade (REST API) -------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        view = int(getattr(self.replica, "view", 0))
        validators = self.ledger.validators
        return {
            "chain_id": self.chain_id,
            "node_id": self.keypair.public_hex,
            "index": self.index,
            "height": self.ledger.height,
            "view": view,
            "primary": view % len(validators),
            "last_block_hash": self.ledger.head_hash.hex(),
            "last_block_time_ms": self.ledger.head_header.timestamp_ms,
            "peers_connected": len(self.net.connected()),
            "peers": sorted(self.net.connected()),
            "mempool_size": len(self.ledger.mempool),
            "validators": len(validators),
            "uptime_s": (self.now() - self.started_ms) // 1000,
        }

    def _admission_paused(self) -> bool:
        """Far behind a certified head, admission would check nonces against stale state and take the
        CPU catch-up needs (CometBFT's mempool also waits for block sync): refused until caught up."""
        lag = int(getattr(self.replica, "catchup_target", 0)) - self.ledger.height
        return lag >= ADMISSION_PAUSE_LAG

    def submit_tx(self, tx: SignedTx) -> str:
        if self._admission_paused():
            raise CatchingUpError(f"this node is catching up (head {self.ledger.height}): submit to another node")
        if self.queue.qsize() >= API_QUEUE_LIMIT:
            raise MempoolFullError(
                f"the node is {self.queue.qsize()} consensus events behind; retry later", code="queue_full"
            )
        self._admit(tx, len(tx.encode()), forward=True)
        return tx.tx_id

    def get_tx(self, tx_id: bytes) -> dict[str, Any] | None:
        return ledger_tx_json(self.ledger, tx_id)

    async def wait_tx(self, tx_id: bytes, timeout_s: float) -> dict[str, Any] | None:
        current = self.get_tx(tx_id)
        if current is None or current["status"] == "committed":
            return current
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.setdefault(tx_id, []).append(future)
        try:
            await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            pass
        finally:
            waiting = self.waiters.get(tx_id)
            if waiting and future in waiting:
                waiting.remove(future)
                if not waiting:
                    del self.waiters[tx_id]
        return self.get_tx(tx_id)

    def get_block(self, height: int | None) -> dict[str, Any] | None:
        return ledger_block_json(self.ledger, height)

    def raw_blocks(self, from_height: int, to_height: int, max_bytes: int) -> list[bytes]:
        return self.ledger.raw_blocks(from_height, to_height, min(max_bytes, CATCHUP_MAX_BYTES))

    def metrics_text(self) -> bytes:
        self.metrics.observe_status(self.status(), self.net.stats.flat())
        self.metrics.observe_dropped(getattr(self.replica, "dropped", {}))
        self.metrics.observe_host(self.ledger.mempool.max_txs, self.config.path(self.home, self.config.data_dir))
        return self.metrics.render()
