// Prints each package's size: its ES module output (tsc, `npm run build`) and its bundle
// minified and gzipped with the dependencies it does not ship left out (react, @mui/*,
// @emotion/*, the other @chanbind packages), as an application's bundler would count it.
import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { readdirSync, statSync, existsSync } from 'node:fs';
import path from 'node:path';

const external = ['react', 'react-dom', 'react/jsx-runtime', '@mui/*', '@emotion/*', '@chanbind/*'];

function dirSize(dir, ext) {
  if (!existsSync(dir)) return 0;
  let total = 0;
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    const s = statSync(p);
    if (s.isDirectory()) total += dirSize(p, ext);
    else if (name.endsWith(ext)) total += s.size;
  }
  return total;
}

const kb = (n) => `${(n / 1024).toFixed(1)} kB`;
console.log('package            dist .js    min        min+gzip');
for (const name of ['client', 'react', 'mui']) {
  const entry = `packages/${name}/src/index.ts`;
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    write: false,
    external,
    jsx: 'automatic',
    logLevel: 'error',
  });
  const code = result.outputFiles[0].contents;
  const dist = dirSize(`packages/${name}/dist`, '.js');
  console.log(
    `@chanbind/${name.padEnd(8)} ${(dist ? kb(dist) : 'not built').padStart(10)} ${kb(code.length).padStart(10)} ${kb(gzipSync(code).length).padStart(10)}`,
  );
}
const page = '../examples/assets/demo/assets/app.js';
if (existsSync(page)) {
  const { readFileSync } = await import('node:fs');
  const code = readFileSync(page);
  console.log(`demo page (all in) ${''.padStart(10)} ${kb(code.length).padStart(10)} ${kb(gzipSync(code).length).padStart(10)}`);
}
