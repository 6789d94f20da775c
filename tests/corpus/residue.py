"""What of each input file's patient identity is still in its output, judged by pydicom (not by
dams' own matcher), for tests/real_corpus.rs. Reads from stdin, as JSON,
{"pairs": [[input, output], ...], "produced": ["(gggg,eeee)", ...], "common": [word, ...]}
and prints, as JSON, one finding per element of an output that still holds the input's
PatientID, a part of its PatientName or its PatientBirthDate:
{"output", "element", "keyword", "vr", "kind"}. Never prints the values themselves.

    python tests/corpus/residue.py < request.json

The needles are the plain values, found case-insensitively where no letter or digit touches
them: the ID when it has three characters or more; the whole name when it has a letter, and
each name part of four letters or more that is not one of the `common` words of imaging
(the policy dams documents: a patient called "Test" or "Anonymized" is found by the whole
name only); the birth date as YYYYMMDD, unless the output's PatientBirthDate is that same
date (born on 1 January, under keep-year: the profile itself publishes it). Pixel data is not
searched (text burned into pixels is another matter); every other element is, at any depth,
text or binary, and so is the 128-byte preamble. Left out: the elements the profile's rules
write (`produced`, at any depth), and name parts in CS values (defined terms: ImageType
PERFUSION is no leak of a patient named Perfusion).
"""
import json
import re
import sys

import pydicom
from pydicom.tag import Tag

PIXELS = {Tag(0x7FE0, 0x0010), Tag(0x7FE0, 0x0008), Tag(0x7FE0, 0x0009)}


def text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, (list, pydicom.multival.MultiValue)):
        return "\\".join(text(v) for v in value)
    return str(value)


def needles(ds, common: set) -> list:
    out = []
    pid = text(ds.get("PatientID", "")).strip()
    if len(pid) >= 3:
        out.append(("patient-id", pid))
    name = text(ds.get("PatientName", "")).strip()
    if any(c.isalpha() for c in name):
        parts = [p for p in re.split(r"[\^= ,]+", name) if len(p) >= 4 and p.isalpha() and p.upper() not in common]
        for p in set(parts) | {name}:
            out.append(("patient-name", p))
    birth = text(ds.get("PatientBirthDate", "")).strip()
    if re.fullmatch(r"\d{8}", birth):
        out.append(("birth-date", birth))
    return out


def pattern(needle: str) -> re.Pattern:
    return re.compile(r"(?<![0-9A-Za-z])" + re.escape(needle) + r"(?![0-9A-Za-z])", re.IGNORECASE)


def raw(elem) -> str:
    """The element's value as text: strings as pydicom decodes them, bytes as Latin-1."""
    try:
        value = elem.value
    except Exception:  # noqa: BLE001 - an undecodable value is searched as bytes
        value = elem.repval
    return text(value)


def findings(inp: str, outp: str, produced: set, common: set) -> list:
    src = pydicom.dcmread(inp, force=True, stop_before_pixels=True)
    out = pydicom.dcmread(outp, force=True)
    found = []
    published = text(out.get("PatientBirthDate", "")).strip()
    pats = [(kind, pattern(n)) for kind, n in needles(src, common) if not (kind == "birth-date" and n == published)]
    if not pats:
        return found
    with open(outp, "rb") as f:
        preamble = f.read(128).decode("latin-1")
    for kind, p in pats:
        if p.search(preamble):
            found.append({"output": outp, "element": "preamble", "keyword": "", "vr": "", "kind": kind})

    def walk(ds, path):
        for elem in ds:
            here = f"{path}({elem.tag.group:04X},{elem.tag.element:04X})"
            if elem.VR == "SQ":
                for i, item in enumerate(elem.value or []):
                    walk(item, f"{here}[{i}]/")
                continue
            if elem.tag in PIXELS or elem.tag in produced:
                continue
            value = raw(elem)
            for kind, p in pats:
                if kind == "patient-name" and elem.VR == "CS":
                    continue
                if p.search(value):
                    found.append(
                        {"output": outp, "element": here, "keyword": elem.keyword, "vr": elem.VR, "kind": kind}
                    )

    walk(out.file_meta, "")
    walk(out, "")
    return found


def main() -> None:
    request = json.load(sys.stdin)
    produced = {Tag(int(t[1:5], 16), int(t[6:10], 16)) for t in request["produced"]}
    common = {w.upper() for w in request["common"]}
    result = []
    for inp, outp in request["pairs"]:
        try:
            result.extend(findings(inp, outp, produced, common))
        except Exception as e:  # noqa: BLE001 - a file pydicom cannot read is no finding here
            result.append({"output": outp, "element": "", "keyword": "", "vr": "", "kind": "unreadable: " + type(e).__name__})
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
