"""The bench's same-run figures (issue 15 part 1): the signature ceiling, the ratios and the wire bytes."""

from __future__ import annotations

from devnet import bench_probe


def test_the_ceiling_is_cores_times_verify_rate_over_nodes_and_signatures() -> None:
    rates = [(20_000.0, 19_000.0), (10_000.0, 18_000.0), (18_000.0, 20_000.0)]
    ceiling = bench_probe.signature_ceiling(rates, nodes=4, signatures_per_tx=2.0, cores=2)
    assert ceiling["verify_per_s_per_core"] == 18_000  # medians, not the best or the worst sample
    assert ceiling["tx_per_s"] == 2 * 18_000 / (4 * 2)
    assert ceiling["verify_cpu_us"] == round(1e6 / 19_000, 1)
    share = bench_probe.signature_cpu_share(ceiling, cpu_ms_per_tx=0.84)
    assert share == round(4 * 2 * ceiling["verify_cpu_us"] / 1000 / 0.84, 3)
    assert bench_probe.signature_cpu_share(ceiling, None) is None


def test_verify_rates_are_measured() -> None:
    wall, cpu = bench_probe.verifies_per_second(seconds=0.05, sample_s=0.02)
    assert wall > 100 and cpu > 100  # PyNaCl verifies thousands per second on any machine


def test_wire_bytes_count_each_byte_sent_once_and_skip_silent_nodes() -> None:
    before = {0: {"bytes_out": 100.0, "bytes_in": 5.0}, 1: {"bytes_out": 0.0}, 2: None}
    after = {0: {"bytes_out": 1100.0, "bytes_in": 999.0}, 1: {"bytes_out": 500.0}, 2: {"bytes_out": 7.0}}
    wire = bench_probe.wire_bytes(before, after, api_bytes=300, committed=10)
    assert wire == {"peer_bytes": 1500, "api_bytes": 300, "peer_bytes_per_tx": 150.0, "api_bytes_per_tx": 30.0}
    assert bench_probe.wire_bytes({}, {}, 0, 0)["peer_bytes_per_tx"] is None


def test_net_counters_parse_the_metrics_text() -> None:
    text = 'silkport_net{counter="bytes_out"} 1234.0\nsilkport_net{counter="frames_in"} 5.0\nother 1\n'
    assert {m["name"]: float(m["value"]) for m in bench_probe.NET_COUNTER.finditer(text)} == {
        "bytes_out": 1234.0, "frames_in": 5.0,
    }
    assert bench_probe.net_counters("http://127.0.0.1:9", timeout=0.5) is None  # nothing listens


def test_the_headline_is_a_ratio() -> None:
    ceiling = bench_probe.signature_ceiling([(10_000.0, 10_000.0)], nodes=4, signatures_per_tx=1.0, cores=2)
    report = {"committed_tx_per_s": 2_500.0, "signature_ceiling": ceiling, "ceiling_ratio": 0.5,
              "signature_cpu_share": 0.3}
    line = bench_probe.headline(report)
    assert "2,500.0 tx/s = 0.5 of the same-run signature ceiling 5,000.0 tx/s" in line
    assert bench_probe.headline({"committed_tx_per_s": 1.0}) == ""


def test_the_smoke_table_prints_figures_beside_the_baseline() -> None:
    from devnet import bench_smoke

    now = {"single": {"committed_tx_per_s": 900.0, "ceiling_ratio": 0.2, "wire": {"peer_bytes_per_tx": 1100.0}}}
    base = {"single": {"committed_tx_per_s": 1000.0, "ceiling_ratio": 0.25, "wire": {"peer_bytes_per_tx": 1000.0}}}
    text = bench_smoke.table(now, base)
    rows = {line.split("  ")[0].strip() + "|" + line[10:50].strip(): line.split()[-1] for line in text.splitlines()[1:]}
    assert rows["single|committed tx/s"] == "0.90"
    assert rows["single|peer bytes per tx"] == "1.10"
    assert rows["single|API bytes per tx"] == "–"  # absent from both: no ratio, no failure
    assert bench_smoke.figure(now["single"], ("wire", "peer_bytes_per_tx")) == 1100.0
    assert bench_smoke.figure(now["single"], ("latency_ms", "p99")) is None
