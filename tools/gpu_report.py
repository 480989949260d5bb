#!/usr/bin/env python3
"""Writes report.md and report.json of scripts/gpu-check from the files it left in its folder:
steps.tsv (step, exit status, milliseconds, command), versions.log, tier2.log (doctest's output, with
-d's per-case seconds and the model-level cases' "tier2 ..." lines: the worst error per comparison),
tier2-errors.tsv (every tensor the model-level cases compared: comparison, tensor, relative error,
tolerance, ok), bench.jsonl (one JSON line per benchmark run: taugrad's bench_step and PyTorch's bench/bench_step.py),
curve-cpu.json and curve-device.json (the loss per step of the same seeded ResNet-20 training on the
CPU and the device).

Each step is passed, FAILED, timed out (exit 137: killed at its limit) or not run (125: the budget was
spent). Exit status 1 when a step did not pass or the two loss curves differ by more than 1e-3
(relative), else 0.
Usage: gpu_report.py FOLDER [--dry-run]   (standard library only)
"""
import json
import os
import re
import sys

CURVE_TOLERANCE = 1e-3  # largest |cpu - device| / max(1, |cpu|) over the steps
STATUS = {0: "passed", 137: "timed out", 125: "not run"}


def read_json_lines(path):
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    rows.append(json.loads(line))
    return rows


def read_text(path):
    return open(path, errors="replace").read() if os.path.exists(path) else ""


def tier2_results(log):
    """From doctest's console output: the summary line, the cases that failed (a block with an ERROR,
    a crash included), each case's seconds (-d) and the model-level comparisons' lines."""
    failed = []
    for block in re.split(r"^={20,}$", log, flags=re.M):
        case = re.search(r"^TEST CASE:\s+(.*)$", block, flags=re.M)
        if case and re.search(r"ERROR", block) and case.group(1) not in failed:
            failed.append(case.group(1))
    seconds = [{"case": m.group(2), "seconds": float(m.group(1))}
               for m in re.finditer(r"^(\d+\.\d+) s: (.*)$", log, flags=re.M)]
    summary = re.search(r"test cases:\s*(\d+) \|\s*(\d+) passed \|\s*(\d+) failed \|\s*(\d+) skipped", log)
    counts = dict(zip(("cases", "passed", "failed", "skipped"), map(int, summary.groups()))) if summary else None
    comparisons = re.findall(r"MESSAGE: (tier2 .*)$", log, flags=re.M)
    return {"counts": counts, "failed_cases": failed, "seconds": sorted(seconds, key=lambda r: -r["seconds"]),
            "comparisons": comparisons}


def tier2_errors(path):
    """Every compared tensor, grouped by comparison, worst first (error over tolerance)."""
    groups = {}
    for line in read_text(path).splitlines():
        comparison, tensor, error, tolerance, ok = line.split("\t")
        groups.setdefault(comparison, []).append(
            {"tensor": tensor, "error": float(error), "tolerance": float(tolerance), "ok": ok == "ok"})
    for rows in groups.values():
        rows.sort(key=lambda r: -(r["error"] / r["tolerance"] if r["tolerance"] > 0 else float(not r["ok"])))
    return groups


def curve_comparison(folder):
    a, b = (read_json_lines(os.path.join(folder, f"curve-{side}.json")) for side in ("cpu", "device"))
    if not a or not b:
        return {"ok": False, "why": "a curve is missing"}
    la, lb = a[0]["losses"], b[0]["losses"]
    if len(la) != len(lb) or not la:
        return {"ok": False, "why": f"{len(la)} and {len(lb)} steps"}
    diff = max(abs(x - y) / max(1.0, abs(x)) for x, y in zip(la, lb))
    return {"ok": diff <= CURVE_TOLERANCE, "steps": len(la), "max_relative_difference": diff,
            "tolerance": CURVE_TOLERANCE, "cpu": la, "device": lb}


def bench_table(rows):
    """Groups runs by (workload, model, batch) and sets taugrad's images/s beside each PyTorch mode's:
    taugrad's tf32 (or fp32) run beside torch fp32, its bf16 run (else the tf32 one) beside torch AMP bf16."""
    groups = {}
    for r in rows:
        key = (r["workload"], r["model"], r["batch"])
        groups.setdefault(key, {})[f"{r['framework']} {r.get('precision', 'fp32')}"] = r
    table = []
    for (workload, model, batch), runs in groups.items():
        full = runs.get("taugrad tf32") or runs.get("taugrad fp32") or {}
        half = runs.get("taugrad bf16", {})
        ours = {"fp32": full.get("images_per_s"), "bf16": half.get("images_per_s") or full.get("images_per_s")}
        row = {"workload": workload, "model": model, "batch": batch, "taugrad_images_per_s": full.get("images_per_s"),
               "taugrad_bf16_images_per_s": half.get("images_per_s")}
        for mode in ("fp32", "bf16"):
            theirs = runs.get(f"torch {mode}", {}).get("images_per_s")
            row[f"torch_{mode}_images_per_s"] = theirs
            row[f"ratio_vs_torch_{mode}"] = ours[mode] / theirs if ours[mode] and theirs else None
            row[f"torch_{mode}_peak_bytes"] = runs.get(f"torch {mode}", {}).get("peak_bytes")
        # The caching allocator keeps what it took: memory in use at the end is what taugrad held.
        row["taugrad_device_bytes_in_use"] = full.get("device_bytes_in_use")
        row["taugrad_peak_bytes"] = full.get("peak_allocated_bytes")
        table.append(row)
    return table


def fmt(v, spec="{:.1f}"):
    return "n/a" if v is None else spec.format(v)


def markdown(report):
    dry, tier2, curve = report["dry_run"], report["tier2"], report["curve"]
    md = [f"# taugrad device check{' (dry run: the CPU in place of the GPU, tiny shapes)' if dry else ''}", "",
          f"Result: **{'passed' if report['ok'] else 'FAILED'}**", "", "## Machine", "", "```",
          report["versions"].strip(), "```", "", "## Steps", "", "| step | result | exit | seconds | command |",
          "|---|---|---|---|---|"]
    md += [f"| {s['step']} | {s['status']} | {s['exit']} | {s['seconds']:.1f} | `{s['command'][:100]}` |"
           for s in report["steps"]]
    md += ["", "## Tier 2", ""]
    c = tier2["counts"]
    md.append("no doctest summary (the run did not finish)" if c is None else
              f"{c['cases']} cases: {c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped")
    if tier2["failed_cases"]:
        md += ["", "Failed cases:", ""] + [f"- {name}" for name in tier2["failed_cases"]]
    # The comparisons' lines, less those the per-tensor list below gives in full (the attacks' stay).
    lines = [l for l in tier2["comparisons"] if not report["tier2_errors"] or l.startswith("tier2 attack")]
    if lines:
        md += ["", "Model level:", ""] + [f"- {line}" for line in lines]
    if report["tier2_errors"]:
        md += ["", "Worst tensors per comparison (relative error / tolerance):", ""]
        for comparison, rows in report["tier2_errors"].items():
            worst = ", ".join(f"{r['tensor']} {r['error']:.2e} / {r['tolerance']:.1e}{'' if r['ok'] else ' FAILED'}"
                              for r in rows[:3])
            md.append(f"- {comparison} ({len(rows)} tensors): {worst}")
    if tier2["seconds"]:
        md += ["", "Slowest cases (s): " + ", ".join(f"{r['case']} {r['seconds']:.1f}" for r in tier2["seconds"][:8])]
    md += ["", "## Speed beside PyTorch (images/s; ratio > 1: taugrad is faster)", "",
           "| workload | model | batch | taugrad tf32 | torch fp32 | ratio | taugrad bf16 | torch bf16 AMP | ratio | torch peak fp32 / bf16 (MiB) | taugrad peak / held (MiB) |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    mib = lambda v: fmt(v / 2**20 if v is not None else None, "{:.0f}")
    for r in report["bench"]:
        md.append(f"| {r['workload']} | {r['model']} | {r['batch']} | {fmt(r['taugrad_images_per_s'])} | "
                  f"{fmt(r['torch_fp32_images_per_s'])} | {fmt(r['ratio_vs_torch_fp32'], '{:.2f}')} | "
                  f"{fmt(r['taugrad_bf16_images_per_s'])} | {fmt(r['torch_bf16_images_per_s'])} | {fmt(r['ratio_vs_torch_bf16'], '{:.2f}')} | "
                  f"{mib(r['torch_fp32_peak_bytes'])} / {mib(r['torch_bf16_peak_bytes'])} | "
                  f"{mib(r['taugrad_peak_bytes'])} / {mib(r['taugrad_device_bytes_in_use'])} |")
    md += ["", "## CPU against device: ResNet-20 loss curve from one seed", ""]
    if "max_relative_difference" in curve:
        md.append(f"{curve['steps']} steps; largest relative difference {curve['max_relative_difference']:.2e} "
                  f"(tolerance {curve['tolerance']:.0e}): **{'agree' if curve['ok'] else 'DIFFER'}**")
    else:
        md.append(f"not compared: {curve['why']}")
    return md


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    folder, dry = sys.argv[1], "--dry-run" in sys.argv[2:]
    steps = []
    with open(os.path.join(folder, "steps.tsv")) as f:
        for line in f:
            name, rc, ms, command = line.rstrip("\n").split("\t", 3)
            steps.append({"step": name, "exit": int(rc), "status": STATUS.get(int(rc), "FAILED"),
                          "seconds": int(ms) / 1000, "command": command})
    curve = curve_comparison(folder)
    report = {"dry_run": dry, "ok": all(s["exit"] == 0 for s in steps) and curve["ok"], "steps": steps,
              "total_seconds": sum(s["seconds"] for s in steps),
              "versions": "".join(read_text(os.path.join(folder, f)) for f in ("versions.log", "versions-torch.log", "libraries.log")),
              "tier2": tier2_results(read_text(os.path.join(folder, "tier2.log"))),
              "tier2_errors": tier2_errors(os.path.join(folder, "tier2-errors.tsv")),
              "bench": bench_table(read_json_lines(os.path.join(folder, "bench.jsonl"))), "curve": curve}
    with open(os.path.join(folder, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
    md = markdown(report)
    with open(os.path.join(folder, "report.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
