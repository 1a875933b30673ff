#!/usr/bin/env python3
"""Soak test: kill recordings with SIGKILL at random moments and check that nothing is lost.

Usage:
    scripts/soak.py                       # long version: 50 kills (about 1-2 min in a debug build)
    scripts/soak.py --kills 5 --steps 200 # short version (what Tests/python/test_soak_short.py runs)
    scripts/soak.py --writer record       # the same around `eostrace record` / `record --resume`

What one round does (a "round" is one recording that gets killed one or more times):
  1. an uninterrupted reference recording is written once (same parameters, same data);
  2. the writer is started, killed with SIGKILL after a random delay (seeded), then the file is
     checked, then `--resume` continues it; with --kills-per-run K > 1 the resumed writer is
     killed again, up to K times per round; finally a resume runs to completion;
  3. after every kill:
     - our reader opens the file: `eostrace follow FILE --quiet --timeout T` must exit 1 with
       "interrupted (writer died)": a file whose /run/status still says "running" while no live
       writer holds it is reported as an interrupted run (decision: /run/status keeps what the
       writer last stored; readers combine it with writer liveness, see TrajectoryFormat's
       WriterLock/StatusReport); `eostrace validate FILE` (when the CLI has it) must exit 0 or 1,
       never crash;
     - h5py (an independent reader, HDF5 2.0) opens it and the readable main-cadence rows are
       >= the rows of the writer's last "flushed STEP ROWS" line (steps up to the last flush
       are never lost) and equal, bit for bit, the reference's first rows;
  4. after the final resume: status "completed" and every series (step, loss, residual,
     sharpness, eigenvalues, eigenvectors, dtf, output_norm_sq, outputs; checkpoint series
     when recorded) equals the reference bit for bit (or to --rtol, default 0).
A kill of a new recording before the writer printed its first "flushed" line (the file may still be
being created) is counted as "killed before the file existed"; the round then starts a fresh file.
A kill of a resumed writer before its first line (while it reopens and truncates) must still leave
every row the earlier writers flushed.

Writers:
  --writer synthetic (default): the developer tool `eostrace-dev synthetic-writer FILE --steps N
      --delay-ms M --flush-every F [--resume]` (deterministic SyntheticRecording data,
      TrajectoryWriter, prints "flushed STEP ROWS" after every flush).
  --writer record: `eostrace record --output FILE <--record-args> --force` and
      `eostrace record --output FILE --resume` (default record args: linear-synthetic preset,
      60 steps, checkpoints every 10, --batch-steps 5). record prints no flush lines, so after
      a kill the file must open, say "interrupted (writer died)" and hold rows equal to the
      reference; a kill before any step reached the disk (nothing to resume from) starts the
      run again. record --resume continues from the last checkpoint; the completed file must
      equal the uninterrupted run bit for bit (record pins BLAS to one thread for this).
  Long record version (slow in a debug build, ~30 s per run):
      scripts/soak.py --writer record --kills 20

Exit status 0 when every check passed; 1 otherwise. Last line: counts, e.g.
  soak: 50 kills survived, 0 steps lost, 0 resume mismatches, 0 open failures, 2 killed before the file existed
"""
from __future__ import annotations

import argparse
import os
import random
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

try:
    import h5py
except ImportError:  # pragma: no cover
    h5py = None

REPO = Path(__file__).resolve().parents[1]
MAIN_SERIES = ["step", "loss", "residual", "output_norm_sq", "sharpness", "eigenvalues",
               "eigenvectors", "dtf", "outputs", "output_layer_sharpness", "grad_norm"]
SIDE_SERIES = {"checkpoint_step": ["parameters"], "spectrum_step": ["spectrum"],
               "hessian_step": ["hessian_sharpness"], "gram_step": ["gram"]}


def read_series(path: Path) -> tuple[dict, str]:
    """Every /trajectory series (main cadence cut to its common length) and /run/status, via h5py."""
    with h5py.File(path, "r", swmr=True, libver="latest") as f:
        status = f["run/status"][()]
        status = status.decode() if isinstance(status, bytes) else str(status)
        status = status.rstrip("\x00 ")
        t = f["trajectory"]
        out = {}
        names = [s for s in MAIN_SERIES if s in t]
        common = min(t[s].shape[0] for s in names)
        for s in names:
            out[s] = t[s][:common]
        for coord, members in SIDE_SERIES.items():
            if coord in t:
                present = [coord] + [m for m in members if m in t]
                c = min(t[m].shape[0] for m in present)
                for m in present:
                    out[m] = t[m][:c]
        return out, status


class Soak:
    def __init__(self, args):
        self.a = args
        self.rng = random.Random(args.seed)
        self.bin = str(args.bin)
        self.dev_bin = str(args.dev_bin)
        self.work = Path(args.workdir or tempfile.mkdtemp(prefix="eostrace-soak-"))
        self.work.mkdir(parents=True, exist_ok=True)
        self.kills = 0
        self.survived = 0
        self.steps_lost = 0
        self.mismatches = 0
        self.open_failures = 0
        self.before_create = 0
        self.unflushed_discarded = 0
        self.before_checkpoint = 0
        self.not_resumable = False
        self.rounds = 0
        self.problems: list[str] = []
        self.has_validate = self._has_subcommand("validate")

    def _has_subcommand(self, name: str) -> bool:
        p = subprocess.run([self.bin, "--help"], capture_output=True, text=True)
        return any(line.split()[:1] == [name] for line in p.stdout.splitlines())

    def log(self, msg: str):
        if not self.a.quiet:
            print(msg, flush=True)

    def problem(self, msg: str):
        self.problems.append(msg)
        print("PROBLEM: " + msg, flush=True)

    # -- writers ---------------------------------------------------------------------------
    def writer_cmd(self, path: Path, resume: bool, final: bool = False) -> list[str]:
        a = self.a
        if a.writer == "synthetic":
            cmd = [self.dev_bin, "synthetic-writer", str(path), "--steps", str(a.steps),
                   "--flush-every", str(a.flush_every), "--seed", str(a.seed + 1),
                   "--checkpoint-every", str(a.checkpoint_every)]
            if not final:
                cmd += ["--delay-ms", str(a.delay_ms)]
            if resume:
                cmd.append("--resume")
            return cmd
        if resume:
            return [self.bin, "record", "--output", str(path), "--resume", "--quiet"]
        return [self.bin, "record", "--output", str(path), *shlex.split(a.record_args), "--quiet", "--force"]

    def reference(self) -> dict:
        ref = self.work / "reference.h5"
        t0 = time.time()
        p = subprocess.run(self.writer_cmd(ref, resume=False, final=True), capture_output=True, text=True,
                           timeout=self.a.run_timeout)
        if p.returncode != 0:
            raise SystemExit(f"soak: reference run failed ({p.returncode}): {p.stderr.strip()}")
        self.ref_seconds = time.time() - t0
        series, status = read_series(ref)
        if status != "completed":
            raise SystemExit(f"soak: reference run has status {status!r}")
        return series

    def run_and_kill(self, path: Path, resume: bool, delay: float) -> tuple[int | None, bool]:
        """Starts the writer, kills it after `delay` s (unless it ends first).
        Returns (rows of the last "flushed" line or None, whether it was killed)."""
        proc = subprocess.Popen(self.writer_cmd(path, resume), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            proc.wait(timeout=delay)
            killed = False
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            killed = True
        out, err = proc.communicate()
        flushed = None
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "flushed":
                flushed = int(parts[2])
        if not killed and proc.returncode != 0:
            self.problem(f"{path.name}: writer exited {proc.returncode} without being killed: {err.strip()}")
        return flushed, killed

    # -- checks ----------------------------------------------------------------------------
    def check_after_kill(self, path: Path, flushed: int | None, ref: dict) -> bool:
        """True when the file can be resumed (it opened and held what it must)."""
        if flushed is None and self.a.writer == "synthetic":
            # Killed before the first flush line: the file may be half-created.
            self.before_create += 1
            return False
        ok = True
        self.finished_first = False
        self.not_resumable = False
        p = subprocess.run([self.bin, "follow", str(path), "--quiet", "--interval", "0.05", "--timeout", "10"],
                           capture_output=True, text=True, timeout=60)
        if p.returncode == 0 and p.stdout.startswith("status: completed"):
            # The kill landed after the writer closed the file (between close and exit).
            self.last_rows = int(p.stdout.split(" after ")[1].split()[0])
            self.finished_first = True
            return True
        if self.a.writer == "record" and p.returncode == 2 and (not path.exists() or "no such file" in p.stderr
                                                                  or "format" in p.stderr
                                                                  or path.stat().st_size < 65536):
            # record prints no flush lines: a kill while it was creating the file.
            self.before_create += 1
            self.not_resumable = True
            return False
        if p.returncode != 1 or "interrupted (writer died)" not in p.stdout:
            self.open_failures += 1
            self.problem(f"{path.name}: follow after kill exited {p.returncode}: {p.stdout.strip()} {p.stderr.strip()}")
            return False
        readable = int(p.stdout.split(" after ")[1].split()[0])
        if self.has_validate:
            v = subprocess.run([self.bin, "validate", str(path)], capture_output=True, text=True, timeout=60)
            if v.returncode not in (0, 1):
                self.problem(f"{path.name}: validate exited {v.returncode}: {v.stderr.strip()}")
                ok = False
        try:
            got, status = read_series(path)
        except Exception as e:  # noqa: BLE001
            self.open_failures += 1
            self.problem(f"{path.name}: h5py cannot open it after a kill: {e}")
            return False
        rows = got["step"].shape[0]
        if rows != readable:
            self.problem(f"{path.name}: eostrace reads {readable} rows, h5py {rows}")
            ok = False
        if status != "running":
            self.problem(f"{path.name}: status after kill is {status!r}, expected 'running' (writer died)")
            ok = False
        if flushed is not None:
            if rows < flushed:
                self.steps_lost += flushed - rows
                self.problem(f"{path.name}: {rows} rows readable, but the writer had flushed {flushed}")
                ok = False
        for name, values in got.items():
            r = ref[name][: values.shape[0]]
            if values.shape != r.shape or not self.same(values, r):
                self.problem(f"{path.name}: /trajectory/{name} after the kill differs from the reference")
                ok = False
                break
        self.last_rows = rows
        return ok

    def same(self, a: np.ndarray, b: np.ndarray) -> bool:
        if a.shape != b.shape:
            return False
        if self.a.rtol == 0:
            return a.tobytes() == b.tobytes()
        return bool(np.allclose(a, b, rtol=self.a.rtol, atol=0))

    def check_final(self, path: Path, ref: dict) -> bool:
        got, status = read_series(path)
        bad = [s for s in ref if s not in got or not self.same(got[s], ref[s])]
        if status != "completed" or bad:
            self.mismatches += 1
            self.problem(f"{path.name}: after resume status {status!r}, series differing from the "
                         f"uninterrupted run: {bad}")
            return False
        return True

    # -- main loop -------------------------------------------------------------------------
    def run(self) -> int:
        a = self.a
        t0 = time.time()
        ref = self.reference()
        ref_seconds = a.steps * a.delay_ms / 1000 if a.writer == "synthetic" else self.ref_seconds
        self.log(f"soak: reference has {ref['step'].shape[0]} steps; work dir {self.work}")
        while self.kills < a.kills:
            self.rounds += 1
            path = self.work / f"run{self.rounds:03d}.h5"
            resume = False
            kills_here = 0
            promised = None
            self.finished_first = False
            while kills_here < a.kills_per_run and self.kills < a.kills:
                # 10% of the kills land during start-up (file creation), the rest anywhere in
                # the run, up to 10% beyond its expected length (so some runs finish first).
                if self.rng.random() < 0.1:
                    delay = self.rng.uniform(0.02, 0.3)
                else:
                    delay = 0.3 + self.rng.uniform(0, ref_seconds * 1.1)
                flushed, killed = self.run_and_kill(path, resume, delay)
                if not killed:
                    self.finished_first = True  # it completed by itself: check it as it is
                    break
                self.kills += 1
                kills_here += 1
                if flushed is None and resume:
                    # A resumed writer killed while reopening: what earlier writers flushed
                    # must still be there.
                    flushed = promised
                promised = flushed
                if self.check_after_kill(path, flushed, ref):
                    self.survived += 1
                    resume = True
                    if a.writer == "record" and self.last_rows == 0 and not self.finished_first:
                        # No step on disk yet, so no checkpoint either: start this run again.
                        resume = False
                        self.before_checkpoint += 1
                    if self.finished_first:
                        self.log(f"  kill {self.kills}: {path.name} after {delay:.2f}s: the run had completed")
                        break
                    self.log(f"  kill {self.kills}: {path.name} after {delay:.2f}s, flushed {flushed}, "
                             f"readable {self.last_rows}: ok")
                elif flushed is None and (a.writer == "synthetic" or self.not_resumable):
                    self.survived += 1  # nothing was promised yet; start over
                    self.log(f"  kill {self.kills}: {path.name} after {delay:.2f}s before the first flush")
                    resume = False
                else:
                    resume = False
                    break
            if self.finished_first:
                self.check_final(path, ref)
                continue
            # Finish the run (resume when there is something to resume).
            cmd = self.writer_cmd(path, resume=resume, final=True)
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=a.run_timeout)
            if p.returncode != 0 and resume and a.writer == "record" and "no parameter checkpoint" in p.stderr:
                # Killed before record's first checkpoint reached the disk: nothing to resume.
                self.before_checkpoint += 1
                cmd = self.writer_cmd(path, resume=False, final=True)
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=a.run_timeout)
            if p.returncode != 0:
                self.mismatches += 1
                self.problem(f"{path.name}: {' '.join(cmd[1:3])}{' --resume' if resume else ''} failed: {p.stderr.strip()}")
                continue
            self.check_final(path, ref)
            if not a.keep:
                path.unlink(missing_ok=True)
        dt = time.time() - t0
        print(f"soak: {self.rounds} runs, {self.kills} kills in {dt:.1f} s; "
              f"{self.before_create} killed before the file existed"
              + (f", {self.before_checkpoint} before the first checkpoint (restarted)" if self.before_checkpoint else ""))
        print(f"soak: {self.survived} kills survived, {self.steps_lost} steps lost, "
              f"{self.mismatches} resume mismatches, {self.open_failures} open failures")
        return 0 if not self.problems and self.survived == self.kills else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=50, help="total SIGKILLs (default 50)")
    ap.add_argument("--kills-per-run", type=int, default=2, help="kills of one recording before it completes")
    ap.add_argument("--steps", type=int, default=400, help="steps per recording (synthetic writer)")
    ap.add_argument("--delay-ms", type=int, default=2, help="sleep per step of the synthetic writer")
    ap.add_argument("--flush-every", type=int, default=16, help="steps per flush (synthetic writer)")
    ap.add_argument("--checkpoint-every", type=int, default=25, help="checkpoint cadence (synthetic writer; 0: none)")
    ap.add_argument("--seed", type=int, default=20260601)
    ap.add_argument("--writer", choices=["synthetic", "record"], default="synthetic")
    ap.add_argument("--record-args", default="--preset linear-synthetic --steps 60 --checkpoint-every 10 --batch-steps 5",
                    help="arguments of `eostrace record` for --writer record")
    ap.add_argument("--rtol", type=float, default=0.0, help="0: compare bit for bit")
    ap.add_argument("--run-timeout", type=float, default=600)
    ap.add_argument("--bin", default=os.environ.get("EOSTRACE_BIN", REPO / ".build" / "debug" / "eostrace"))
    ap.add_argument("--dev-bin", default=os.environ.get("EOSTRACE_DEV_BIN", REPO / ".build" / "debug" / "eostrace-dev"),
                    help="the developer tools (synthetic writer)")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the recordings")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    if h5py is None:
        print("soak: needs h5py", file=sys.stderr)
        return 2
    return Soak(args).run()


if __name__ == "__main__":
    sys.exit(main())
