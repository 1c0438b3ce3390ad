// Generates reference encodings with Hugging Face's JavaScript port of
// tokenizers (npm @huggingface/tokenizers), for onnx/tokenizer's tests.
//
// node gen.mjs HF_DIST_MJS GLOSSES_JSONL OUT.json NAME=TOKENIZER_JSON...
import fs from "node:fs";
import crypto from "node:crypto";
import { sentences, pairs } from "./sentences.mjs";

const [dist, glosses, out, ...files] = process.argv.slice(2);
const { Tokenizer } = await import(dist);
const texts = sentences(glosses);
const result = { generator: "@huggingface/tokenizers@0.2.0", texts, pairs, files: {} };
for (const spec of files) {
  const [name, path] = spec.split("=");
  const raw = fs.readFileSync(path);
  const tk = new Tokenizer(JSON.parse(raw), {});
  const f = { sha256: crypto.createHash("sha256").update(raw).digest("hex"), single: [], decoded: [], pair: [] };
  for (const t of texts) {
    try {
      const ids = tk.encode(t).ids;
      f.single.push(ids);
      // The decoder alone: Rust's decode does not clean up spaces.
      f.decoded.push(ids.length ? tk.decode(ids, { skip_special_tokens: true, clean_up_tokenization_spaces: false }) : "");
    } catch (e) {
      f.single.push({ error: String(e) });
      f.decoded.push(null);
    }
  }
  for (const [a, b] of pairs) {
    try {
      const e = tk.encode(a, { text_pair: b, return_token_type_ids: true });
      f.pair.push({ ids: e.ids, type_ids: e.token_type_ids ?? null });
    } catch (e) {
      f.pair.push({ error: String(e) });
    }
  }
  result.files[name] = f;
}
fs.writeFileSync(out, JSON.stringify(result) + "\n");
