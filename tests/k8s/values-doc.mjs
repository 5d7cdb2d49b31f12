// values-doc.mjs - every value the chart's schema knows has a default in
// values.yaml, a row in the chart's README table (and nothing else does),
// and is set by at least one of the test value files in VALUES_DIR.
// usage: node values-doc.mjs --modules DIR CHART_DIR VALUES_DIR
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [, , flag, modules, chart, valuesDir] = process.argv;
if (flag !== "--modules" || !valuesDir) {
  console.error("usage: node values-doc.mjs --modules DIR CHART_DIR VALUES_DIR");
  process.exit(2);
}
const YAML = await import(pathToFileURL(join(modules, "node_modules", "yaml/dist/index.js")).href);
const schema = JSON.parse(readFileSync(join(chart, "values.schema.json"), "utf8"));
const values = YAML.parse(readFileSync(join(chart, "values.yaml"), "utf8"));
const readme = readFileSync(join(chart, "README.md"), "utf8");
const rows = new Set([...readme.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]));

const leaves = [];
(function walk(s, path) {
  if (s.properties) for (const [k, v] of Object.entries(s.properties)) walk(v, path ? `${path}.${k}` : k);
  else leaves.push(path);
})(schema, "");

const set = new Set();
for (const f of readdirSync(valuesDir).filter((f) => f.endsWith(".yaml"))) {
  (function walk(o, path) {
    for (const [k, v] of Object.entries(o ?? {})) {
      const p = path ? `${path}.${k}` : k;
      set.add(p);
      if (v && typeof v === "object" && !Array.isArray(v)) walk(v, p);
    }
  })(YAML.parse(readFileSync(join(valuesDir, f), "utf8")), "");
}

const problems = [];
for (const l of leaves) {
  const v = l.split(".").reduce((o, k) => (o === undefined ? o : o[k]), values);
  if (v === undefined) problems.push(`${l}: no default in values.yaml`);
  if (!rows.has(l)) problems.push(`${l}: no row in README.md`);
  if (!set.has(l)) problems.push(`${l}: set by no file of ${valuesDir}`);
}
for (const r of rows) if (!leaves.includes(r)) problems.push(`README.md documents ${r}, which the schema does not know`);
for (const p of problems) console.log(`FAIL values-doc: ${p}`);
if (problems.length) process.exit(1);
console.log(`ok values-doc: ${leaves.length} values, each with a default, a README row, and set by a test`);
