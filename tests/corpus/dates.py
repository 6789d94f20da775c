"""The judge of the date shift on real files (tests/real_corpus.rs): pydicom, not dams, reads
each input and its output and compares every DA and DT value of the data set (at every depth)
that is in both, by element path. Reads JSON {"pairs": [[input, output, offset], ...]} on stdin;
prints {"moved": N, "wrong": [...]} (a value that is no date in the input is not counted).
"""
import datetime
import json
import sys

import pydicom


def day(v):
    v = str(v).strip()
    if len(v) < 8 or not v[:8].isdigit():
        return None
    try:
        return datetime.date(int(v[:4]), int(v[4:6]), int(v[6:8])).toordinal()
    except ValueError:
        return None


def values(ds, prefix=""):
    for e in ds:
        path = f"{prefix}{e.tag}"
        if e.VR == "SQ":
            for i, item in enumerate(e.value or []):
                yield from values(item, f"{path}[{i}]/")
        elif e.VR in ("DA", "DT") and e.value not in (None, ""):
            raw = e.value if isinstance(e.value, (list, pydicom.multival.MultiValue)) else [e.value]
            yield path, [str(x) for x in raw]


def main():
    req = json.load(sys.stdin)
    moved, wrong = 0, []
    for src, dst, offset in req["pairs"]:
        a = dict(values(pydicom.dcmread(src, force=True)))
        b = dict(values(pydicom.dcmread(dst, force=True)))
        for path, before in a.items():
            if path not in b:
                continue
            after = b[path]
            for x, y in zip(before, after):
                dx, dy = day(x), day(y)
                if dx is None:
                    continue
                if dy is not None and dy - dx == offset:
                    moved += 1
                else:
                    wrong.append(f"{src} {path}: {x!r} -> {y!r} (offset {offset})")
    json.dump({"moved": moved, "wrong": wrong}, sys.stdout)


main()
