// Prints the @huggingface/tokenizers ids of a text file (no special tokens) as JSON.
// usage: node tools/train/check_tokenizer.js MODEL_DIR FILE
const fs = require("fs");
const path = require("path");
const { Tokenizer } = require("@huggingface/tokenizers");
const dir = process.argv[2];
const tok = new Tokenizer(
  JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8")),
  JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")),
);
const text = fs.readFileSync(process.argv[3], "utf8");
const ids = tok.encode(text, { add_special_tokens: false }).ids;
const back = tok.decode(ids);
process.stdout.write(JSON.stringify({ ids, roundtrip: back === text }));
