#!/usr/bin/env python3
"""Dev-only CSP evaluation (DiffCSP protocol) of a `genms csp` samples file against a CDVAE-style dataset file.

For every dataset row with samples: StructureMatcher(stol=0.5, angle_tol=10, ltol=0.3).get_rms_dist(pred, gt), whose
RMSE is already normalised by (V/N)^(1/3). Match @1 uses sample 0; match @k uses the first k samples and, as DiffCSP,
the smallest RMSE among the matching ones. Samples that fail structural validity (min periodic distance >= 0.5 A and
volume >= 0.1 A^3, DiffCSP/CDVAE `struct_valid`) are counted as non-matching.

Usage (venv with pymatgen: python3 -m venv /tmp/pyv && /tmp/pyv/bin/pip install pymatgen):
  /tmp/pyv/bin/python tools/eval_csp.py --samples out.csv --data ../shared/data/structures/perov_5/val.csv --k 1,20
Prints a JSON summary; --limit N evaluates only the first N dataset rows.
"""
import argparse
import csv
import json
import sys
import warnings
from multiprocessing import Pool

import numpy as np

warnings.filterwarnings("ignore")
csv.field_size_limit(sys.maxsize)


def parse(cif):
    from pymatgen.io.cif import CifParser

    return CifParser.from_str(cif).parse_structures(primitive=False)[0]


def struct_valid(s, cutoff=0.5):
    if s.volume < 0.1:
        return False
    if len(s) < 2:
        return True
    d = s.distance_matrix + np.diag(np.ones(len(s)) * (cutoff + 10.0))
    if d.min() < cutoff:
        return False
    return True


def evaluate_row(args):
    gt_cif, preds = args
    from pymatgen.analysis.structure_matcher import StructureMatcher

    matcher = StructureMatcher(stol=0.5, angle_tol=10, ltol=0.3)
    gt = parse(gt_cif)
    out = []
    for cif in preds:
        try:
            s = parse(cif)
        except Exception:
            out.append((False, None))
            continue
        valid = struct_valid(s)
        rms = None
        if valid:
            try:
                r = matcher.get_rms_dist(s, gt)
                rms = None if r is None else float(r[0])
            except Exception:
                rms = None
        out.append((valid, rms))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--k", default="1", help="comma-separated sample counts, e.g. 1,20")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    ks = [int(k) for k in a.k.split(",")]
    preds = {}
    with open(a.samples, newline="") as f:
        for row in csv.DictReader(f):
            preds.setdefault(row["material_id"], []).append((int(row["sample"]), row["cif"]))
    gts = []
    with open(a.data, newline="") as f:
        for row in csv.DictReader(f):
            gts.append((row["material_id"], row["cif"]))
    if a.limit:
        gts = gts[: a.limit]
    kmax = max(ks)
    jobs, ids = [], []
    for mid, cif in gts:
        if mid not in preds:
            continue
        p = [c for _, c in sorted(preds[mid])][:kmax]
        jobs.append((cif, p))
        ids.append(mid)
    missing = len(gts) - len(jobs)
    with Pool(a.workers) as pool:
        results = pool.map(evaluate_row, jobs, chunksize=8)
    summary = {"samples_file": a.samples, "data_file": a.data, "rows": len(gts), "rows_without_samples": missing}
    all_valid = [v for r in results for v, _ in r]
    summary["struct_validity"] = float(np.mean(all_valid)) if all_valid else None
    summary["num_samples"] = len(all_valid)
    for k in ks:
        matched, rmses, have_k = 0, [], 0
        for r in results:
            rr = [x for _, x in r[:k] if x is not None]
            have_k += len(r) >= k
            if rr:
                matched += 1
                rmses.append(min(rr))
        n = len(gts)
        summary[f"match_rate@{k}"] = matched / n if n else None
        summary[f"rmse@{k}"] = float(np.mean(rmses)) if rmses else None
        summary[f"rows_with_{k}_samples"] = have_k
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
