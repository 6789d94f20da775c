"""Which elements differ between input and output files, read with pydicom (not dams), as JSON
on stdout, for tests/validator.rs: for every (source, dest) pair given on stdin as JSON
[[source, dest], ...] (relative to IN and OUT), the paths of the elements that were changed,
added or removed, like "(0010,0010)" or "(0008,1115)[0]/(0008,1155)"; file meta elements are
prefixed with "meta/". Never prints values.

    python tests/corpus/changed_tags.py IN OUT < pairs.json
"""
import json
import sys
import warnings
from pathlib import Path

import pydicom
from pydicom import config

# Values are compared, not judged: pydicom's complaints about them are not the question here.
config.settings.reading_validation_mode = config.IGNORE
warnings.simplefilter("ignore")


def tag_text(tag) -> str:
    return f"({tag.group:04X},{tag.element:04X})"


def flatten(ds, prefix: str, out: dict) -> None:
    for elem in ds:
        path = prefix + tag_text(elem.tag)
        if elem.VR == "SQ":
            out[path] = ("SQ", len(elem.value))
            for i, item in enumerate(elem.value):
                flatten(item, f"{path}[{i}]/", out)
        else:
            value = elem.value
            if isinstance(value, (bytes, bytearray)):
                value = bytes(value).rstrip(b"\0 ")
            out[path] = (elem.VR, repr(value))


def elements(path: Path) -> dict:
    ds = pydicom.dcmread(path, force=True)
    out: dict = {}
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        flatten(meta, "meta/", out)
    flatten(ds, "", out)
    return out


def main() -> None:
    src_root, dest_root = Path(sys.argv[1]), Path(sys.argv[2])
    result = {}
    for source, dest in json.load(sys.stdin):
        try:
            a = elements(src_root / source)
            b = elements(dest_root / dest)
        except Exception as e:  # noqa: BLE001 - reported as such
            result[source] = ["unreadable by pydicom: " + type(e).__name__]
            continue
        changed = sorted(p for p in a.keys() | b.keys() if a.get(p) != b.get(p))
        result[source] = changed
    json.dump(result, sys.stdout, indent=1)


main()
