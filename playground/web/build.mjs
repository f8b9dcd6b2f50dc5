// Bundles the playground page: src/main.js (with CodeMirror) and src/style.css into the
// directory given as the first argument (cargo's OUT_DIR from build.rs, or dist/ for
// `npm run build`), plus licenses.txt with the license of every npm package in the bundle.
// The gatehouse binary embeds the results; nothing is loaded from a CDN.
import { build } from 'esbuild';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const outdir = process.argv[2] ?? 'dist';
mkdirSync(outdir, { recursive: true });
const result = await build({
  entryPoints: { app: 'src/main.js', style: 'src/style.css' },
  outdir,
  bundle: true,
  format: 'esm',
  target: ['es2022'],
  minify: true,
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
});

// Every package the bundle took code from, with its license text.
const packages = new Set();
for (const input of Object.keys(result.metafile.inputs)) {
  const m = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (m) packages.add(m[1]);
}
let notice = 'The Gatehouse playground page bundles these npm packages:\n';
for (const name of [...packages].sort()) {
  const dir = join('node_modules', name);
  const meta = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const file = readdirSync(dir).find((f) => /^licen[cs]e/i.test(f));
  notice += `\n==== ${name} ${meta.version} (${meta.license}) ====\n`;
  notice += file && existsSync(join(dir, file)) ? readFileSync(join(dir, file), 'utf8') : '';
}
writeFileSync(join(outdir, 'licenses.txt'), notice);
