"""One new UID per original UID, judged by pydicom (not dams), for tests/real_corpus.rs
(issue 14, point 3). Reads from stdin, as JSON,
{"input": IN, "output": OUT, "files": [[source, dest, [repaired path, ...]], ...]}
(source and dest relative to IN and OUT; a repaired path is where the plan's `repair` edits
write, like "(0020,000E)") and walks every UI element of each input and its output — the
file meta, the data set and every item of every sequence at any depth, each value of a
multi-valued one — pairing them by path. It prints, as JSON,
{"files": n, "uids": n, "splits": [{"old", "new": {new: [[source, path], ...]}}],
 "repaired": [old, ...]}:
an original UID written as more than one new UID is a split, unless the occurrences a repair
wrote account for all but one of its new values (a repair separates files that wrongly
shared a UID on purpose, and the plan says so); those are listed under "repaired". A UID
removed from the output is no new value. A raw data set's input has no file meta: the file
meta its output gets carries the instance UID as written, so its
MediaStorageSOPInstanceUID counts as an occurrence of the input's SOPInstanceUID. Values
are printed (UIDs of public test files), nothing else of the files.

    python tests/corpus/uidmap.py < request.json
"""
import collections
import json
import sys
import warnings
from pathlib import Path

import pydicom
from pydicom import config

config.settings.reading_validation_mode = config.IGNORE
warnings.simplefilter("ignore")

# Not instance identifiers: classes, transfer syntaxes, the writing implementation. A profile
# keeps them (or, for the implementation, writes its own); one class is named by many files.
NOT_INSTANCES = {
    "(0002,0002)",  # MediaStorageSOPClassUID
    "(0002,0010)",  # TransferSyntaxUID
    "(0002,0012)",  # ImplementationClassUID
    "(0008,0016)",  # SOPClassUID
    "(0008,1150)",  # ReferencedSOPClassUID
    "(0004,1510)",  # ReferencedSOPClassUIDInFile
    "(0004,1512)",  # ReferencedTransferSyntaxUIDInFile
}
MEDIA_INSTANCE, SOP_INSTANCE = "(0002,0003)", "(0008,0018)"


def tag_text(tag) -> str:
    return f"({tag.group:04X},{tag.element:04X})"


def walk(ds, prefix: str, out: dict) -> None:
    for elem in ds:
        path = prefix + tag_text(elem.tag)
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value or []):
                walk(item, f"{path}[{i}]/", out)
        elif elem.VR == "UI" and tag_text(elem.tag) not in NOT_INSTANCES:
            value = elem.value
            values = list(value) if isinstance(value, (list, pydicom.multival.MultiValue)) else [value]
            for j, v in enumerate(values):
                v = str(v or "").strip("\0 ")
                if v:
                    out[path + (f"#{j}" if len(values) > 1 else "")] = v


def uids(path: Path) -> dict:
    ds = pydicom.dcmread(path, force=True)
    out: dict = {}
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        walk(meta, "", out)
    walk(ds, "", out)
    return out


def main() -> None:
    request = json.load(sys.stdin)
    src_root, dest_root = Path(request["input"]), Path(request["output"])
    # old -> new -> [(source, path, repaired)]
    seen = collections.defaultdict(lambda: collections.defaultdict(list))
    for source, dest, repaired in request["files"]:
        a, b = uids(src_root / source), uids(dest_root / dest)
        if MEDIA_INSTANCE not in a and MEDIA_INSTANCE in b and SOP_INSTANCE in a:
            a[MEDIA_INSTANCE] = a[SOP_INSTANCE]
        for path, old in a.items():
            if path in b:
                seen[old][b[path]].append((source, path, path in repaired))
    splits, excused = [], []
    for old, news in sorted(seen.items()):
        if len(news) < 2:
            continue
        unrepaired = {new for new, where in news.items() if any(not r for _, _, r in where)}
        entry = {"old": old, "new": {n: sorted([s, p] for s, p, _ in w) for n, w in news.items()}}
        if len(unrepaired) <= 1:
            excused.append(old)
        else:
            splits.append(entry)
    json.dump(
        {"files": len(request["files"]), "uids": len(seen), "splits": splits, "repaired": excused},
        sys.stdout,
        indent=1,
    )


main()
