// Encodes every WordNet gloss with Hugging Face's JavaScript tokenizers
// and writes, per tokenizer file, the sha256 of the ids (one line per
// gloss, ids separated by spaces) for all glosses and for the first
// 10,000: onnx/tokenizer's TestGlossDigests compares embfit's ids with
// them without checking in megabytes of ids.
//
// node digest.mjs HF_DIST_MJS GLOSSES_JSONL OUT.json NAME=TOKENIZER_JSON...
import fs from "node:fs";
import crypto from "node:crypto";

const [dist, glosses, out, ...files] = process.argv.slice(2);
const { Tokenizer } = await import(dist);
const texts = fs.readFileSync(glosses, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l).text);
const result = { generator: "@huggingface/tokenizers@0.2.0", glosses: texts.length, files: {} };
for (const spec of files) {
  const [name, path] = spec.split("=");
  const tk = new Tokenizer(JSON.parse(fs.readFileSync(path, "utf8")), {});
  const all = crypto.createHash("sha256");
  const first = crypto.createHash("sha256");
  texts.forEach((t, i) => {
    const line = tk.encode(t).ids.join(" ") + "\n";
    all.update(line);
    if (i < 10000) first.update(line);
  });
  result.files[name] = { all: all.digest("hex"), first10000: first.digest("hex") };
}
fs.writeFileSync(out, JSON.stringify(result, null, 1) + "\n");
