// Encodes the reference sentences with SentencePiece's own spm_encode
// (Debian package sentencepiece), for comparison with the converted
// Unigram tokenizer.json. Texts holding a line break are left out:
// spm_encode reads one sentence per line.
//
// node spm.mjs MODEL GLOSSES_JSONL OUT.json
import fs from "node:fs";
import crypto from "node:crypto";
import { execFileSync } from "node:child_process";
import { sentences } from "./sentences.mjs";

const [model, glosses, out] = process.argv.slice(2);
const texts = sentences(glosses).filter((t) => !/[\r\n]/.test(t));
const stdout = execFileSync("spm_encode", [`--model=${model}`, "--output_format=id"], {
  input: texts.join("\n") + "\n",
  maxBuffer: 1 << 26,
}).toString();
const lines = stdout.split("\n");
const ids = texts.map((_, i) => (lines[i] === "" ? [] : lines[i].split(" ").map(Number)));
const sha256 = crypto.createHash("sha256").update(fs.readFileSync(model)).digest("hex");
fs.writeFileSync(out, JSON.stringify({ generator: "spm_encode (Debian sentencepiece)", model_sha256: sha256, texts, ids }) + "\n");
