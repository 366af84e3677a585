"""Build a benchmark corpus (JSONL) from Debian packages, optionally with label noise or injected junk.

    python scripts/build_corpus.py wordnet-supersense --out wordnet.jsonl [--limit 20000] [--label-noise 0.2]
        [--noise-mode uniform|class-dependent]
    python scripts/build_corpus.py gcide --out gcide.jsonl [--limit 5000] [--inject dup=0.05,shuffled=0.05,random=0.05]
        [--min-chars 80] [--max-chars 2000]

Installs the corpus's Debian package (`wordnet-base`, `dict-gcide`) with apt-get when its files are missing
(through sudo when not root). Records: `id`, `text`, plus `label` (wordnet-supersense), `headword` (gcide);
with `--label-noise P`, round(P·n) labels are flipped (to any other class, or with `--noise-mode class-dependent`
to one fixed class per class: the next in sorted order) and each record has `clean_label` and `noisy`; with
`--inject`, each record has `injected` = dup / shuffled / random, or null for an original.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time

from thresher.data.corpora.build import (
    CORPORA,
    DEBIAN_PACKAGES,
    build_corpus,
    check_options,
    corpus_files,
    write_jsonl,
)
from thresher.data.corpora.inject import parse_inject_spec
from thresher.errors import OptionError, ThresherError


def ensure_debian_package(corpus: str) -> None:
    """Install the corpus's Debian package when its files are missing (apt-get, with sudo when not root)."""
    if all(path.is_file() for path in corpus_files(corpus)):
        return
    package = DEBIAN_PACKAGES[corpus]
    if shutil.which("apt-get") is None:
        raise OptionError(f"{corpus} needs the Debian package {package}, and apt-get is not available here")
    prefix = [] if os.geteuid() == 0 else ["sudo"]
    if prefix and shutil.which("sudo") is None:
        raise OptionError(f"installing {package} needs root; run `apt-get install -y {package}` as root")
    print(f"installing {package} …", file=sys.stderr)
    completed = subprocess.run([*prefix, "apt-get", "install", "-y", package], check=False)
    if completed.returncode != 0:
        raise OptionError(f"`apt-get install -y {package}` failed (exit {completed.returncode})")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", choices=CORPORA)
    parser.add_argument("--out", required=True, help="output JSONL file")
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="keep about N records (seeded; wordnet-supersense: class-stratified, at least one per class)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--label-noise", type=float, default=0.0, help="flip this fraction of labels")
    parser.add_argument(
        "--noise-mode",
        default="uniform",
        help="uniform (a flipped label goes to any other class) or class-dependent (to its class's fixed target)",
    )
    parser.add_argument("--inject", default=None, help="junk rates, e.g. dup=0.05,shuffled=0.05,random=0.05")
    parser.add_argument("--min-chars", type=int, default=None, help="keep only records of at least N characters")
    parser.add_argument("--max-chars", type=int, default=None, help="keep only records of at most N characters")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    try:
        inject = parse_inject_spec(args.inject) if args.inject is not None else None
        lengths = {"min_chars": args.min_chars, "max_chars": args.max_chars}
        noise = {"label_noise": args.label_noise, "noise_mode": args.noise_mode}
        check_options(args.corpus, limit=args.limit, **noise, **lengths)
        ensure_debian_package(args.corpus)
        records = build_corpus(args.corpus, limit=args.limit, seed=args.seed, **noise, inject=inject, **lengths)
        count = write_jsonl(records, args.out)
    except ThresherError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {count} records to {args.out} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
