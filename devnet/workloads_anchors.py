"""Bench workloads for the anchors contracts (registered with :func:`devnet.workloads.workload`)."""

from __future__ import annotations
