"""Bench workloads for the assets contracts (registered with :func:`devnet.workloads.workload`)."""

from __future__ import annotations
