#!/usr/bin/env python3
"""Writes report.md and report.json of scripts/gpu-check from the files it left in its folder:
steps.tsv (step, exit status, milliseconds, command), versions.log, bench.jsonl (one JSON line per
benchmark run: taugrad's bench_step and PyTorch's bench/bench_step.py), curve-cpu.json and
curve-device.json (the loss per step of the same seeded ResNet-20 training on the CPU and the device).

Exit status 1 when a step failed or the two loss curves differ by more than 1e-3 (relative), else 0.
Usage: gpu_report.py FOLDER [--dry-run]   (standard library only)
"""
import json
import os
import sys

CURVE_TOLERANCE = 1e-3  # largest |cpu - device| / max(1, |cpu|) over the steps


def read_json_lines(path):
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    rows.append(json.loads(line))
    return rows


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
    """Groups runs by (workload, model, batch) and sets taugrad's images/s beside each PyTorch mode's."""
    groups = {}
    for r in rows:
        key = (r["workload"], r["model"], r["batch"])
        name = "taugrad" if r["framework"] == "taugrad" else f"torch {r['precision']}"
        groups.setdefault(key, {})[name] = r
    table = []
    for (workload, model, batch), runs in groups.items():
        ours = runs.get("taugrad", {}).get("images_per_s")
        row = {"workload": workload, "model": model, "batch": batch, "taugrad_images_per_s": ours}
        for mode in ("fp32", "bf16"):
            theirs = runs.get(f"torch {mode}", {}).get("images_per_s")
            row[f"torch_{mode}_images_per_s"] = theirs
            row[f"ratio_vs_torch_{mode}"] = ours / theirs if ours and theirs else None
            row[f"torch_{mode}_peak_bytes"] = runs.get(f"torch {mode}", {}).get("peak_bytes")
        row["taugrad_device_bytes_in_use"] = runs.get("taugrad", {}).get("device_bytes_in_use")
        row["taugrad_peak_bytes"] = runs.get("taugrad", {}).get("peak_allocated_bytes")
        table.append(row)
    return table


def fmt(v, spec="{:.1f}"):
    return "n/a" if v is None else spec.format(v)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    folder, dry = sys.argv[1], "--dry-run" in sys.argv[2:]
    steps = []
    with open(os.path.join(folder, "steps.tsv")) as f:
        for line in f:
            name, rc, ms, command = line.rstrip("\n").split("\t", 3)
            steps.append({"step": name, "exit": int(rc), "seconds": int(ms) / 1000, "command": command})
    versions = open(os.path.join(folder, "versions.log")).read() if os.path.exists(os.path.join(folder, "versions.log")) else ""
    bench = bench_table(read_json_lines(os.path.join(folder, "bench.jsonl")))
    curve = curve_comparison(folder)
    failed = [s for s in steps if s["exit"] != 0]
    ok = not failed and curve["ok"]
    report = {"dry_run": dry, "ok": ok, "steps": steps, "versions": versions, "bench": bench, "curve": curve}
    with open(os.path.join(folder, "report.json"), "w") as f:
        json.dump(report, f, indent=1)

    md = [f"# taugrad device check{' (dry run: the CPU in place of the GPU, tiny shapes)' if dry else ''}", "",
          f"Result: **{'passed' if ok else 'FAILED'}**", "", "## Machine", "", "```", versions.strip(), "```", "",
          "## Steps", "", "| step | exit | seconds | command |", "|---|---|---|---|"]
    md += [f"| {s['step']} | {s['exit']} | {s['seconds']:.1f} | `{s['command'][:120]}` |" for s in steps]
    md += ["", "## Speed beside PyTorch (images/s; ratio > 1: taugrad is faster)", "",
           "| workload | model | batch | taugrad fp32 | torch fp32 | ratio | torch bf16 AMP | ratio | torch peak fp32 / bf16 (MiB) | taugrad peak / in use (MiB) |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    mib = lambda v: fmt(v / 2**20 if v is not None else None, "{:.0f}")
    for r in bench:
        md.append(f"| {r['workload']} | {r['model']} | {r['batch']} | {fmt(r['taugrad_images_per_s'])} | "
                  f"{fmt(r['torch_fp32_images_per_s'])} | {fmt(r['ratio_vs_torch_fp32'], '{:.2f}')} | "
                  f"{fmt(r['torch_bf16_images_per_s'])} | {fmt(r['ratio_vs_torch_bf16'], '{:.2f}')} | "
                  f"{mib(r['torch_fp32_peak_bytes'])} / {mib(r['torch_bf16_peak_bytes'])} | "
                  f"{mib(r['taugrad_peak_bytes'])} / {mib(r['taugrad_device_bytes_in_use'])} |")
    md += ["", "## CPU against device: ResNet-20 loss curve from one seed", ""]
    if "max_relative_difference" in curve:
        md.append(f"{curve['steps']} steps; largest relative difference {curve['max_relative_difference']:.2e} "
                  f"(tolerance {curve['tolerance']:.0e}): **{'agree' if curve['ok'] else 'DIFFER'}**")
    else:
        md.append(f"not compared: {curve['why']}")
    with open(os.path.join(folder, "report.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
