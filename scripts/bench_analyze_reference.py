#!/usr/bin/env python3
"""Straightforward numpy implementation of `eostrace analyze` (docs/ANALYSIS.md), for benchmarking and
for cross-checking the Swift numbers.

    python3 scripts/bench_analyze_reference.py RUN.h5 [--json OUT.json] [--no-replay]

A thin command line over the independent reference `Tests/reference/eos_reference.py` (shared
with the pytest cross-check Tests/python/test_reference_analysis.py): it reads the recording
with h5py, replays GD from the parameter checkpoints with the exact per-layer Gram
M = (2/n) Σ_l (Δ_l Δ_lᵀ) ∘ (H_l H_lᵀ + β) (numpy matmuls; X Xᵀ computed once) — else the stored
gram at its steps, else the top-k approximation, as `eostrace analyze` does — and computes
phases (loss rule), c1, ‖R‖²/n, R′ tracking (from the first step and restarted at phase-II
starts), anomaly points, and the assumption checks. It prints timings and writes the key numbers as
JSON (same names as the Swift result) so that the two can be compared. `--no-replay`: the top-k
approximation of M everywhere.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Tests" / "reference"))

from eos_reference import bench_summary  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("path")
    ap.add_argument("--json", help="write the key numbers here")
    ap.add_argument("--no-replay", action="store_true", help="use the top-k approximation of M")
    a = ap.parse_args(argv)
    res = bench_summary(a.path, replay=not a.no_replay)
    text = json.dumps(res, indent=1, sort_keys=True, default=float)
    if a.json:
        with open(a.json, "w") as fh:
            fh.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
