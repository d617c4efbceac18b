"""Per-reading CPU cost of ingest's worker hot path, in process (no MQTT, no InfluxDB).

Feeds gateway-batch payloads (the messages of bench/ingest_throughput.py) through
``BatchBuilder.add`` and ``seal``, exactly as the worker's processor thread does, and reports
CPU microseconds per reading (process time: on a shared machine, time spent descheduled would
otherwise dominate the spread) for ingest's decoder alone (``contract.fastdecode.decode``, or
``contract.payloads.decode`` in revisions before it) and for the whole path.

``--ref REV`` also runs the ``contract/`` and ``ingest/`` of git revision ``REV`` (extracted with
``git archive`` into a temporary directory, nothing in the working tree is touched) in alternating
rounds with the working tree's code, so both are measured side by side in one run; the SHA-256 of
all lines written shows whether both produce the same output.

    python -m bench.ingest_hotpath --ref 0112565
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _measure(n_readings: int, per_message: int, batch_lines: int) -> dict:
    from bench.ingest_ceiling import sealed_batches
    from bench.ingest_throughput import make_messages
    try:  # the decoder ingest uses
        from contract.fastdecode import decode
    except ImportError:  # a revision before the fast path
        from contract.payloads import decode

    try:  # the worker process's collector policy, as worker_main sets it
        from ingest.memory import tune_gc
    except ImportError:  # a revision before it: its worker ran with CPython's defaults
        tune_gc = None
    messages = make_messages(n_readings, per_message)
    if tune_gc is not None:
        tune_gc()
    t0 = time.process_time()
    for topic, payload in messages:
        decode(topic, payload)
    decode_s = time.process_time() - t0

    digest = hashlib.sha256()
    n_lines = 0
    t0 = time.process_time()
    for lines in sealed_batches(messages, batch_lines):
        digest.update("\n".join(lines).encode())
        n_lines += len(lines)
    path_s = time.process_time() - t0
    return {"decode_us": decode_s / n_readings * 1e6, "path_us": path_s / n_readings * 1e6,
            "lines": n_lines, "sha256": digest.hexdigest()[:16]}


def _child(code_dir: Path, args: argparse.Namespace) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(code_dir), str(ROOT)])}
    out = subprocess.run([sys.executable, "-m", "bench.ingest_hotpath", "--child", "--readings", str(args.readings),
                          "--per-message", str(args.per_message), "--batch-lines", str(args.batch_lines)],
                         cwd=ROOT if code_dir == ROOT else code_dir, env=env, check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--readings", type=int, default=50_000)
    ap.add_argument("--per-message", type=int, default=50)
    ap.add_argument("--batch-lines", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ref", help="git revision to measure side by side (its contract/ and ingest/)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_measure(args.readings, args.per_message, args.batch_lines)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        variants = {"working tree": ROOT}
        if args.ref:
            base = Path(tmp)
            archive = subprocess.run(["git", "archive", args.ref, "contract", "ingest"], cwd=ROOT, check=True,
                                     capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
            # bench/ must come from the working tree; only the measured packages from the revision.
            (base / "bench").symlink_to(ROOT / "bench")
            variants = {f"baseline {args.ref}": base, **variants}
        best: dict[str, dict] = {}
        for _ in range(args.rounds):  # alternating rounds: both see the same load of the shared machine
            for name, code_dir in variants.items():
                r = _child(code_dir, args)
                if name not in best or r["path_us"] < best[name]["path_us"]:
                    best[name] = {**r, "decode_us": min(r["decode_us"], best.get(name, r)["decode_us"])}
    print(f"{args.readings} readings, {args.per_message} per message, sealed every {args.batch_lines} lines, "
          f"best of {args.rounds} alternating rounds\n")
    print("| code | decode [us/reading] | add + seal [us/reading] | lines | sha256 of lines |")
    print("|---|---|---|---|---|")
    for name, r in best.items():
        print(f"| {name} | {r['decode_us']:.1f} | {r['path_us']:.1f} | {r['lines']} | {r['sha256']} |")
    if len(best) == 2:
        (a, b) = best.values()
        print(f"\nspeed-up (add + seal): {a['path_us'] / b['path_us']:.2f} x; decode: "
              f"{a['decode_us'] / b['decode_us']:.2f} x; same lines: {a['sha256'] == b['sha256']}")


if __name__ == "__main__":
    main()
