"""The test suite on a busy machine: N runs while other processes keep every core busy.

Users run the tests on machines that do other work. This starts `--load-procs` CPU-bound
processes (pure Python spin loops at normal priority, one per core by default), then runs the
README's test command (`bash scripts/test.sh`, extra pytest arguments after `--`) `--runs`
times in a row, and reports per run: passed / failed / errors / skipped, the failing test ids,
the wall time and the 1-minute load average sampled during the run. Exit status 0 only when
every run passed.

    .venv/bin/python benchmarks/loaded_suite.py [--runs 5] [--load-procs 2] [-- <pytest args>]

Prints a table and writes benchmarks/results/loaded_suite.json (or --out).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
SPIN = "while True:\n    pass\n"


def junit_outcomes(path: Path) -> dict:
    """Counts and failing ids from a pytest junit XML file."""
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    failing = []
    for case in ET.parse(path).getroot().iter("testcase"):
        test_id = f"{case.get('classname', '')}::{case.get('name', '')}"
        if case.find("failure") is not None:
            counts["failed"] += 1
            failing.append(test_id)
        elif case.find("error") is not None:
            counts["errors"] += 1
            failing.append(test_id)
        elif case.find("skipped") is not None:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
    return {**counts, "failing": failing}


class LoadSampler(threading.Thread):
    """The 1-minute load average every `period` seconds until stopped."""

    def __init__(self, period: float = 5.0):
        super().__init__(daemon=True)
        self.period, self.samples, self._done = period, [], threading.Event()

    def run(self):
        while not self._done.wait(self.period):
            self.samples.append(os.getloadavg()[0])

    def stop(self) -> list[float]:
        self._done.set()
        self.join()
        return self.samples


def suite_command(skip_setup: bool) -> list[str]:
    """The README's test command; with skip_setup, its last line only (the venv must be set
    up: for a snapshot of the code run beside a checkout that shares its venv)."""
    if not skip_setup:
        return ["bash", str(ROOT / "scripts" / "test.sh")]
    venv = Path(os.environ.get("DEXPIE_VENV", ROOT / ".venv"))
    return [str(venv / "bin" / "python"), "-m", "pytest"]


def run_suite(index: int, pytest_args: list[str], timeout_s: float, log_dir: Path,
              skip_setup: bool = False) -> dict:
    junit = log_dir / f"run{index}.xml"
    log = log_dir / f"run{index}.log"
    sampler = LoadSampler()
    sampler.start()
    started = time.monotonic()
    with log.open("w") as out:
        try:
            env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl"),
                   "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}   # as scripts/test.sh sets them
            code = subprocess.run([*suite_command(skip_setup), "-q", "-p", "no:cacheprovider",
                                   f"--junitxml={junit}", *pytest_args], cwd=ROOT, stdout=out, env=env,
                                  stderr=subprocess.STDOUT, timeout=timeout_s).returncode
        except subprocess.TimeoutExpired:
            code = None
    wall = time.monotonic() - started
    loads = sampler.stop()
    result = {"run": index, "exit_code": code, "timed_out": code is None, "wall_s": round(wall, 1),
              "load_1min_mean": round(sum(loads) / len(loads), 2) if loads else None,
              "load_1min_min": round(min(loads), 2) if loads else None, "log": str(log)}
    if junit.exists():
        result.update(junit_outcomes(junit))
    result["ok"] = code == 0
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--load-procs", type=int, default=os.cpu_count() or 2,
                        help="CPU-bound processes kept running during every run (default: one per core)")
    parser.add_argument("--timeout-min", type=float, default=45.0, help="per run")
    parser.add_argument("--out", type=Path, default=RESULTS / "loaded_suite.json")
    parser.add_argument("--skip-setup", action="store_true",
                        help="run pytest in $DEXPIE_VENV directly instead of scripts/test.sh (no setup step)")
    parser.add_argument("pytest_args", nargs="*", help="after --: passed to pytest")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.load_procs < 0:
        parser.error("--runs must be >= 1 and --load-procs >= 0")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    log_dir = Path(tempfile.mkdtemp(prefix="dexpie_loaded_suite_"))
    load = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(args.load_procs)]
    runs = []
    try:
        for index in range(1, args.runs + 1):
            result = run_suite(index, args.pytest_args, args.timeout_min * 60, log_dir, args.skip_setup)
            runs.append(result)
            print(f"run {index}/{args.runs}: {'PASS' if result['ok'] else 'FAIL'}  "
                  f"passed {result.get('passed', '?')} failed {result.get('failed', '?')} "
                  f"errors {result.get('errors', '?')} skipped {result.get('skipped', '?')}  "
                  f"{result['wall_s']:.0f} s  load {result['load_1min_mean']}", flush=True)
            for test_id in result.get("failing", []):
                print(f"    failing: {test_id}", flush=True)
    finally:
        for process in load:
            process.kill()
            process.wait()
    passed = sum(r["ok"] for r in runs)
    summary = {"benchmark": "loaded_suite", "runs": args.runs, "runs_passed": passed,
               "load_procs": args.load_procs, "skip_setup": args.skip_setup, "cpu_count": os.cpu_count(), "pytest_args": args.pytest_args,
               "machine": platform.platform(), "python": platform.python_version(),
               "commit": subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                                        text=True).stdout.strip(),
               "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "results": runs}
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"{passed}/{args.runs} runs passed with {args.load_procs} CPU-bound processes beside them "
          f"(logs in {log_dir}); wrote {args.out}")
    return 0 if passed == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
