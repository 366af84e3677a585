"""Regenerate the demo sample bundled in the package: WordNet glosses with their lexicographer class.

Needs Debian's `wordnet-base` (`apt-get install wordnet-base`). Run:
    python scripts/build_demo_data.py [--size 4000] [--seed 0]
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import numpy as np

from thresher.data.corpora.wordnet import iter_wordnet_glosses

SAMPLE_PATH = Path(__file__).resolve().parents[1] / "src/thresher/data/samples/wordnet_glosses.jsonl.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    records = list(iter_wordnet_glosses())
    rng = np.random.default_rng(args.seed)
    chosen = np.sort(rng.choice(len(records), size=args.size, replace=False))
    # mtime=0 keeps the gzip bytes identical across rebuilds.
    with open(SAMPLE_PATH, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
        for index in chosen:
            out.write((json.dumps(records[index], ensure_ascii=False) + "\n").encode("utf-8"))
    print(f"wrote {args.size} of {len(records)} glosses to {SAMPLE_PATH}")


if __name__ == "__main__":
    main()
