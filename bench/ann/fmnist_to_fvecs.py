#!/usr/bin/env python3
"""fmnist_to_fvecs.py - converts Fashion-MNIST (the IDX files that Debian's
dataset-fashion-mnist installs under /usr/share/datasets/fashion-mnist) to
.fvecs for the ANN benchmark: 60,000 x 784 training images as the base set,
10,000 test images as queries, pixels uint8 -> float32 unchanged (0..255).

Usage: fmnist_to_fvecs.py [SRC_DIR] OUT_DIR
Writes OUT_DIR/fmnist-base.fvecs and OUT_DIR/fmnist-query.fvecs.
"""
import gzip
import os
import struct
import sys


def read_idx_images(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, n, rows, cols = struct.unpack(">IIII", data[:16])
    if magic != 0x803:
        raise SystemExit(f"{path}: not an IDX image file (magic {magic:#x})")
    dim = rows * cols
    if len(data) != 16 + n * dim:
        raise SystemExit(f"{path}: size {len(data)} does not match {n} x {dim}")
    return n, dim, data[16:]


def write_fvecs(path, n, dim, pixels):
    head = struct.pack("<i", dim)
    with open(path, "wb") as f:
        for i in range(n):
            row = pixels[i * dim:(i + 1) * dim]
            f.write(head)
            f.write(struct.pack(f"<{dim}f", *row))


def main():
    args = sys.argv[1:]
    src = "/usr/share/datasets/fashion-mnist"
    if len(args) == 2:
        src, out = args
    elif len(args) == 1:
        out = args[0]
    else:
        raise SystemExit(__doc__)
    os.makedirs(out, exist_ok=True)
    for name, fn in (("base", "train-images-idx3-ubyte"), ("query", "t10k-images-idx3-ubyte")):
        p = os.path.join(src, fn)
        if not os.path.exists(p):
            p += ".gz"
        n, dim, px = read_idx_images(p)
        dst = os.path.join(out, f"fmnist-{name}.fvecs")
        write_fvecs(dst, n, dim, px)
        print(f"{dst}: {n} x {dim}")


if __name__ == "__main__":
    main()
