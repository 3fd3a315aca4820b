"""Cost of drawing a new preview mask: RegionWriter (public napari API) against another tree's labels_region.

Writes the same masks into two 512 x 512 Labels layers, alternating, in one
process: classic-like disks (radius 10-40 px) and noisy masks of about half
the slice (as a random-weight SAM draws).  The other tree's
``labels_region.redraw_region`` (the private-API rectangle redraw of commit
925df7f) is loaded from ``--old`` (default /tmp/b_wt_old); run under Xvfb::

    git worktree add /tmp/old 925df7f
    xvfb-run -a python benchmarks/bench_preview_write.py --old /tmp/old
"""
import argparse
import importlib.util
import time

import napari
import numpy as np
from qtpy.QtWidgets import QApplication
from scipy import ndimage

from promptseg._napari.labels_region import RegionWriter

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--old", default="/tmp/b_wt_old", help="a checkout whose labels_region has redraw_region")
args = parser.parse_args()
spec = importlib.util.spec_from_file_location("old_region", f"{args.old}/src/promptseg/_napari/labels_region.py")
old = importlib.util.module_from_spec(spec)
spec.loader.exec_module(old)
viewer = napari.Viewer(show=True)
viewer.add_image(np.zeros((512, 512)))
a = viewer.add_labels(np.zeros((512, 512), np.uint8), name="old")
b = viewer.add_labels(np.zeros((512, 512), np.uint8), name="new")
yy, xx = np.mgrid[:512, :512]
rng = np.random.default_rng(0)
disks = [((yy - r) ** 2 + (xx - c) ** 2 < rad ** 2).astype(np.uint8) for r, c, rad in rng.integers([40, 40, 10], [470, 470, 40], (30, 3))]
noisy = [(ndimage.gaussian_filter(rng.standard_normal((512, 512)), 6) > 0.02).astype(np.uint8) for _ in range(10)]
writer = RegionWriter(b)


def box_of(old_mask, new_mask):
    """The bounding rectangle of the changed pixels (None: nothing changed)."""
    changed = old_mask != new_mask
    rows = np.flatnonzero(changed.any(1))
    if not rows.size:
        return None
    cols = np.flatnonzero(changed[rows[0]:rows[-1] + 1].any(0))
    return (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))


for name, masks in (("disks r 10-40 px (classic-like)", disks), ("noisy ~half-slice masks (random-weight SAM-like)", noisy)):
    t = {"old": [], "new": []}
    changed = []
    for rep in range(3):
        for i in range(len(masks)):
            n = masks[i]
            for lay in ((a, b) if (i + rep) % 2 else (b, a)):
                bx = box_of(lay.data, n)
                if bx is None:
                    continue
                QApplication.processEvents()
                s = time.perf_counter()
                if lay is a:
                    lay.data[bx] = n[bx]
                    old.redraw_region(lay, (), bx)
                else:
                    changed.append(int((lay.data[bx] != n[bx]).sum()))
                    s = time.perf_counter()
                    writer.write((), bx, n[bx])
                t["old" if lay is a else "new"].append(time.perf_counter() - s)
    assert (a.data == b.data).all()
    print(f"{name}: {len(t['old'])} writes, changed px median {int(np.median(changed))}; "
          f"old private path p50 {np.median(t['old'])*1e3:.2f} ms p90 {np.percentile(t['old'],90)*1e3:.2f}; "
          f"RegionWriter p50 {np.median(t['new'])*1e3:.2f} ms p90 {np.percentile(t['new'],90)*1e3:.2f}")
print("load average", open("/proc/loadavg").read().split()[:3])
viewer.close()
