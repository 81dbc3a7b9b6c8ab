#!/usr/bin/env python3
"""One table of F per kernel, from the icount logs of tools/bench-matrix.sh (one per kernel).

  matrix.py [--markdown] KERNEL=ICOUNT_LOG...

For each kernel, workload (4k randread, 4k randwrite) and dm-remap configuration in the log:
F (bench/vm/report.py's: per round from that round's raw, linear and dm-remap runs, then the
median over rounds, with its spread) from the guest's busy time, F from fio's IOPS (1 ms
runtime steps: about 0.005 in F, a cross-check), the guest time per I/O (ns, which -icount
makes instructions) of dm-linear and of dm-remap over raw brd, dm-remap's extra over
dm-linear, and the verdict of the busy-time F against the target (F <= 1.05 with 0 remaps,
<= 1.15 with 100k remaps around the region).
Exit status 1 if a log lacks a configuration's runs or a target is missed."""
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402  (parse, by_round, t_busy, factor, TARGET, WL_DESC)

CONFIG_DESC = {
    "remap0": "0 remaps",
    "remap1": "1 remap before",
    "remapmiss": "100k after",
    "remaparound": "100k around",
    "remaphit": "100k, 1% hit",
}


def rows_of(kernel, path):
    """[(kernel, workload, config, F, linear ns/IO, remap ns/IO, extra, target, verdict)]"""
    res = report.parse(path)[0]
    rounds = report.by_round([r for r in res if r.get("mode") == "icount"])
    out = []
    for w in report.WORKLOADS:
        rs = [rows for (wl, _), rows in sorted(rounds.items()) if wl == w]
        if not rs:
            continue
        for c in report.ALL_REMAPS:
            rc = [r for r in rs if c in r and "raw" in r and "linear" in r]
            if not rc:
                continue
            fs = [report.factor(r, c, report.t_busy) for r in rc]
            f = statistics.median(fs)
            ffio = statistics.median(report.factor(r, c, report.t_fio) for r in rc)
            lin = statistics.median(report.t_busy(r["linear"]) - report.t_busy(r["raw"]) for r in rc)
            rem = statistics.median(report.t_busy(r[c]) - report.t_busy(r["raw"]) for r in rc)
            target = report.TARGET.get(c)
            verdict = "-" if target is None else ("met" if f <= target else "MISSED")
            out.append((kernel, w, c, f, min(fs), max(fs), ffio, lin, rem, rem - lin, target,
                        verdict, len(rc)))
    return out


def main():
    args = sys.argv[1:]
    markdown = bool(args) and args[0] == "--markdown"
    if markdown:
        args = args[1:]
    if not args:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    rows, bad = [], 0
    for a in args:
        kernel, _, path = a.partition("=")
        if not path or not os.path.exists(path):
            print(f"matrix: no log for {kernel}: {path or '(none)'}", file=sys.stderr)
            bad = 1
            continue
        got = rows_of(kernel, path)
        if not got:
            print(f"matrix: {path} holds no complete round for {kernel}", file=sys.stderr)
            bad = 1
        rows += got
    head = ["kernel", "workload", "config", "F", "[min-max]", "F (fio)", "linear ns/IO",
            "dm-remap ns/IO", "extra ns/IO", "target", "verdict", "rounds"]
    cells = [[k, report.WL_DESC[w], CONFIG_DESC.get(c, c), f"{f:.3f}", f"[{lo:.3f}-{hi:.3f}]",
              f"{ff:.3f}", f"{lin:.0f}", f"{rem:.0f}", f"{ex:.0f}",
              "-" if t is None else f"<= {t:.2f}", v, str(n)]
             for k, w, c, f, lo, hi, ff, lin, rem, ex, t, v, n in rows]
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in cells:
            print("| " + " | ".join(r) + " |")
    else:
        width = [max(len(x) for x in col) for col in zip(head, *cells)]
        for r in [head] + cells:
            print("  ".join(x.ljust(n) for x, n in zip(r, width)).rstrip())
        print("(ns/IO: guest time per I/O over raw brd under -icount, i.e. instructions; "
              "F = dm-remap's / dm-linear's; median over rounds)")
    if any(r[11] == "MISSED" for r in rows):
        bad = 1
    return bad


if __name__ == "__main__":
    sys.exit(main())
