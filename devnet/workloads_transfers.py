"""Bench workloads for the transfers contracts (registered with :func:`devnet.workloads.workload`)."""

from __future__ import annotations
