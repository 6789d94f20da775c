"""What independent readers say about every file below a folder, as JSON on stdout, for
tests/real_corpus.rs: whether pydicom reads a real data set from it, whether dcmdump reads it
without error, and which patient and study attributes it has. Never prints values.

    python tests/corpus/truth.py FOLDER
"""
import json
import subprocess
import sys
import warnings
from pathlib import Path

import pydicom


def check(path: Path) -> dict:
    out = {"path": None, "pydicom": "ok", "dcmdump_ok": None, "has": {}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = pydicom.dcmread(path, force=True)
            for elem in ds.iterall():
                _ = elem.value
        except Exception as e:  # noqa: BLE001 - any failure is the answer
            out["pydicom"] = "error: " + type(e).__name__
            return out
    # A file with the DICM marker is DICOM. Without it, a forced read of something that is not
    # DICOM yields a few bogus elements at most, while a raw data set has elements of the
    # groups every IOD and DICOMDIR carry.
    try:
        pydicom.dcmread(path, stop_before_pixels=True)
        marked = True
    except Exception:  # noqa: BLE001
        marked = False
    groups = {t.group for t in ds.keys()}
    if not marked and not groups & {0x0004, 0x0008, 0x0010, 0x0020}:
        out["pydicom"] = "not-dicom"
    if any("End of file" in str(w.message) or "premature" in str(w.message) for w in caught):
        out["pydicom"] = "truncated"
    for kw in ("PatientID", "PatientName", "PatientBirthDate", "StudyInstanceUID"):
        v = ds.get(kw)
        out["has"][kw] = v is not None and str(v).strip("^ =") != ""
    meta = getattr(ds, "file_meta", None)
    sop = ds.get("SOPClassUID") or (meta.get("MediaStorageSOPClassUID") if meta else None)
    out["dicomdir"] = str(sop or "") == "1.2.840.10008.1.3.10"
    try:
        r = subprocess.run(["dcmdump", "-q", str(path)], capture_output=True, timeout=60)
        out["dcmdump_ok"] = r.returncode == 0
    except FileNotFoundError:
        pass
    return out


def main() -> None:
    root = Path(sys.argv[1])
    result = []
    for p in sorted(root.rglob("*")):
        if p.is_file():
            r = check(p)
            r["path"] = str(p.relative_to(root))
            result.append(r)
    json.dump(result, sys.stdout, indent=1)


main()
