#!/usr/bin/env python3
"""Deterministic benchmark tree: FILES files totalling about TOTAL_MB, with planted test
files (EICAR plain, embedded, zipped) listed in <out>/planted.txt.

Usage: gen_tree.py OUT_DIR [FILES=20000] [TOTAL_MB=2000]
Same arguments, same bytes: every tool in run.sh scans an identical tree.
"""
import io
import os
import random
import sys
import zipfile

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def main():
    out = sys.argv[1]
    files = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    total_mb = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    rng = random.Random(20261122)
    # A pool of bytes to slice file bodies from: half text-like, half binary-like, so
    # scanners see realistic atom hit rates rather than runs of zeros.
    words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(4000)]
    text = b" ".join(rng.choice(words) for _ in range(1_200_000))[: 8 << 20]
    binary = rng.randbytes(8 << 20)
    pool = text + binary
    # Sizes: log-uniform between 512 B and 4 MiB, then scaled to the requested total.
    sizes = [int(2 ** rng.uniform(9, 22)) for _ in range(files)]
    scale = (total_mb << 20) / sum(sizes)
    sizes = [max(64, int(s * scale)) for s in sizes]
    planted = []
    for i, size in enumerate(sizes):
        d = os.path.join(out, f"d{i % 50:02d}", f"s{(i // 50) % 20:02d}")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, f"f{i:06d}.bin")
        if i % 1000 == 7:
            body = EICAR
        elif i % 1000 == 507:
            start = rng.randrange(0, len(pool) - size)
            body = pool[start:start + size // 2] + EICAR + pool[start:start + size // 2]
        elif i % 1000 == 707:
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                z.writestr("readme.txt", pool[:4096])
                z.writestr("eicar.com", EICAR)
            body = buf.getvalue()
            path = path[:-4] + ".zip"
        else:
            start = rng.randrange(0, len(pool) - size) if size < len(pool) else 0
            body = (pool * (size // len(pool) + 1))[start:start + size]
            # Make sure no random slice happens to contain a detection.
            body = body.replace(EICAR[:8], b"x" * 8)
            with open(path, "wb") as f:
                f.write(body)
            continue
        with open(path, "wb") as f:
            f.write(body)
        planted.append(path)
    with open(os.path.join(out, "planted.txt"), "w") as f:
        f.write("\n".join(sorted(os.path.relpath(p, out) for p in planted)) + "\n")
    print(f"{files} files, {sum(os.path.getsize(os.path.join(r, n)) for r, _, ns in os.walk(out) for n in ns) >> 20} MiB, {len(planted)} planted -> {out}")


if __name__ == "__main__":
    main()
