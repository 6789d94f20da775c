#!/usr/bin/env bash
# Builds the fuzz corpora from the test fixtures: every DICOM fixture (small enough) for the
# header and rewrite targets, every XML fixture for the xml target. The corpora are not
# committed (fuzz/corpus is ignored); run this once before `cargo fuzz run`.
set -euo pipefail
cd "$(dirname "$0")"
fixtures=../tests/fixtures
mkdir -p corpus/header corpus/rewrite corpus/xml
# libFuzzer's default -max_len is derived from the corpus; files above 64 KiB mostly hold
# pixel data, which the parser never reads, so they add size without coverage.
find "$fixtures" -type f \( -name '*.dcm' -o -path '*/mapping/*' \) -size -64k \
  ! -name '*.md' ! -name '*.json' -print0 |
  while IFS= read -r -d '' f; do
    name=$(sha1sum "$f" | cut -c1-16)
    cp "$f" "corpus/header/$name"
    cp "$f" "corpus/rewrite/$name"
  done
# Regression inputs found by earlier fuzzing runs.
if [ -d "$fixtures/fuzz" ]; then
  for f in "$fixtures"/fuzz/*; do
    [ -f "$f" ] || continue
    case "$f" in
      *.xml) cp "$f" corpus/xml/ ;;
      *.md) ;;
      *) cp "$f" corpus/header/; cp "$f" corpus/rewrite/ ;;
    esac
  done
fi
find "$fixtures/xml" -type f -name '*.xml' -exec cp {} corpus/xml/ \;
for t in header rewrite xml; do
  echo "corpus/$t: $(find corpus/$t -type f | wc -l) files"
done
