// Times Hugging Face's JavaScript tokenizers on all WordNet glosses, the
// tool a Node user would pick; onnx/tokenizer's BenchmarkGlossesJS runs it
// in the same `go test -bench` run as embfit's own benchmark.
//
// node bench.mjs HF_DIST_MJS GLOSSES_JSONL TOKENIZER_JSON
import fs from "node:fs";

const [dist, glosses, file] = process.argv.slice(2);
const { Tokenizer } = await import(dist);
const texts = fs.readFileSync(glosses, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l).text);
const tk = new Tokenizer(JSON.parse(fs.readFileSync(file, "utf8")), {});
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
let n = 0;
for (const t of texts) n += tk.encode(t).ids.length;
const wall = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu = process.cpuUsage(cpu0);
console.log(JSON.stringify({ texts: texts.length, tokens: n, wall_s: wall, cpu_s: (cpu.user + cpu.system) / 1e6 }));
