#!/usr/bin/env node
// Downloads the packages named in data/sources.txt into data/raw/ and records, for each,
// its version and licence in data/work/packages.json. Only permissively licensed
// packages are kept; the rest are listed with `kept: false` and a reason.
//
//   node training/collect_data.mjs            (from the repository root)
//   node training/collect_data.mjs --pinned   (the versions recorded in data/manifest.tsv)
//
// Eight downloads run at a time; a package already unpacked in data/raw/ at the wanted
// (pinned) version is not fetched again.
//
// npm packages come from the registry through `npm pack`; Debian packages through
// `apt-get download` (run `apt-get update` first) and `dpkg -x`. Nothing else is fetched.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dataDir = join(here, 'data');
const rawDir = join(dataDir, 'raw');
const dlDir = join(dataDir, 'work', 'downloads');
mkdirSync(rawDir, { recursive: true });
mkdirSync(dlDir, { recursive: true });

// SPDX identifiers (and the Debian copyright spellings of them) accepted as permissive.
const PERMISSIVE = new Set([
  'MIT', 'MIT-0', 'Expat', 'ISC', '0BSD', 'BSD-2-Clause', 'BSD-3-Clause', 'BSD-2', 'BSD-3', 'BSD',
  'Apache-2.0', 'Apache-2', 'Apache', 'PSF-2.0', 'PSF', 'Python', 'Python-2.0', 'CC0-1.0', 'CC0',
  'Unlicense', 'BlueOak-1.0.0', 'Zlib', 'HPND', 'public-domain', 'Public-Domain', 'MIT-CMU',
  'BSD-3-clause', 'BSD-2-clause', 'Apache-2.0+', 'PSF-2', 'Python-2', 'ZPL-2.1', 'X11', 'Matplotlib',
  'BSD-4-Clause-UC', 'BSD-like', 'expat', 'Apache2', 'BSD-3-clauses', 'MIT/X11', 'Apache-2.0 or BSD-3-clause', 'Apache-2.0 or BSD-3-Clause',
]);

// Debian packages whose copyright file is not in the machine-readable format (or names the
// licence in words), read by hand: the licence of the Python code the package installs.
const LICENCE_REVIEWED = {
  'libpython3.11-stdlib': 'PSF-2.0',          // copyright in libpython3.11-minimal: the Python licence
  'python3-numpy': 'BSD-3-Clause',
  'python3-jinja2': 'BSD-3-Clause',
  'python3-yaml': 'MIT',
  'python3-matplotlib': 'Matplotlib',         // PSF-based, BSD compatible
  'python3-fastapi': 'MIT',                   // "Files: *" stanza with the licence text inline
  'python3-more-itertools': 'MIT',            // "MIT-style": the MIT text
  'python3-decorator': 'BSD-2-Clause',
  'python3-docopt': 'MIT',                    // "MIT/X11" (debian/* is GPL-3; not installed code)
  'python3-pycparser': 'BSD-3-Clause',        // "bsd-3-bendersky"
  'python3-setuptools': 'MIT',                // "Formerly, PSF or ZPL ... re-licensed in 19.5 with a MIT license"
};

function licenceTerms(expr) {
  // "(MIT OR Apache-2.0)" / "MIT AND ISC" / "BSD-3-clause or Apache-2.0" -> terms
  return expr.replace(/[()]/g, ' ').split(/\s+(?:or|and|OR|AND)\s+|,\s*/).map((s) => s.trim()).filter(Boolean);
}
function isPermissive(expr) {
  if (!expr) return false;
  const terms = licenceTerms(expr);
  const isOr = /\bor\b/i.test(expr) && !/\band\b/i.test(expr);
  return isOr ? terms.some((t) => PERMISSIVE.has(t)) : terms.every((t) => PERMISSIVE.has(t));
}

const execFileAsync = promisify(execFile);
async function sh(cmd, args, opts = {}) {
  return (await execFileAsync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26, ...opts })).stdout;
}
const JOBS = 8;

const safe = (name) => name.replace(/^@/, '').replace(/\//g, '__');

// --pinned: ask for the exact versions the committed manifest records.
const pinned = new Map();
if (process.argv.includes('--pinned')) {
  for (const line of readFileSync(join(dataDir, 'manifest.tsv'), 'utf8').split('\n')) {
    const f = line.replace(/^# /, '').split('\t');
    if ((f[0] === 'npm' || f[0] === 'deb') && f[2]) pinned.set(`${f[0]}:${f[1]}`, f[2]);
  }
}

function unpackedNpm(dest) {
  // Most tarballs unpack into package/; some (@types/*) into a folder of their own name.
  const tops = existsSync(dest) ? readdirSync(dest) : [];
  if (!tops.length) return null;
  const pkgRoot = join(dest, tops.includes('package') ? 'package' : tops[0]);
  const file = join(pkgRoot, 'package.json');
  return existsSync(file) ? { pkgRoot, pj: JSON.parse(readFileSync(file, 'utf8')) } : null;
}

async function collectNpm(name) {
  const dest = join(rawDir, 'npm', safe(name));
  const want = pinned.get(`npm:${name}`);
  let unpacked = want ? unpackedNpm(dest) : null;
  if (!unpacked || unpacked.pj.version !== want) {
    const spec = want ? `${name}@${want}` : name;
    const out = await sh('npm', ['pack', spec, '--json', '--pack-destination', dlDir], { cwd: dlDir });
    const info = JSON.parse(out)[0];
    rmSync(dest, { recursive: true, force: true });
    mkdirSync(dest, { recursive: true });
    await sh('tar', ['-xzf', join(dlDir, info.filename), '-C', dest]);
    unpacked = unpackedNpm(dest);
  }
  const { pkgRoot, pj } = unpacked;
  return { kind: 'npm', name, version: pj.version, license: packageJsonLicence(pj), root: pkgRoot };
}

function packageJsonLicence(pj) {
  let lic = pj.license;
  if (lic && typeof lic === 'object') lic = lic.type;
  if (!lic && Array.isArray(pj.licenses)) lic = pj.licenses.map((l) => l.type).join(' OR ');
  return lic || '';
}

// Debian's node-* packages may bundle other modules (the "+~cs" versions), each under its
// own licence, which the "Files: *" stanza does not cover: the folders of bundled modules
// whose package.json names a licence off the list, relative to the package root.
const NODE_TREES = ['usr/share/nodejs', 'usr/lib/nodejs'];
function nodeModulesOffList(root) {
  const off = [];
  for (const tree of NODE_TREES) {
    const dir = join(root, tree);
    if (!existsSync(dir)) continue;
    const modules = readdirSync(dir).flatMap((e) => (e.startsWith('@') ? readdirSync(join(dir, e)).map((m) => `${e}/${m}`) : [e]));
    for (const m of modules) {
      const file = join(dir, m, 'package.json');
      if (!existsSync(file)) continue;
      let licence = '';
      try { licence = packageJsonLicence(JSON.parse(readFileSync(file, 'utf8'))); } catch { continue; }
      if (licence && !isPermissive(licence)) off.push(`${tree}/${m}`);
    }
  }
  return off;
}

function debCopyrightLicence(root, pkg) {
  // DEP-5: the licence of the "Files: *" stanza is the package's main licence.
  const docDir = join(root, 'usr', 'share', 'doc');
  let file = join(docDir, pkg, 'copyright');
  if (!existsSync(file) && existsSync(docDir)) {
    const d = readdirSync(docDir).find((x) => existsSync(join(docDir, x, 'copyright')));
    if (d) file = join(docDir, d, 'copyright');
  }
  if (!existsSync(file)) return '';
  const text = readFileSync(file, 'utf8');
  const stanzas = text.split(/\n\s*\n/);
  for (const s of stanzas) {
    if (/^Files:\s*\*\s*$/m.test(s)) {
      const m = s.match(/^License:\s*(.+)$/m);
      if (m) return m[1].trim();
    }
  }
  const m = text.match(/^License:\s*(.+)$/m);
  return m ? m[1].trim() : '';
}

async function collectDeb(name) {
  const dest = join(rawDir, 'deb', name);
  for (const f of readdirSync(dlDir)) if (f.startsWith(name + '_') && f.endsWith('.deb')) rmSync(join(dlDir, f));
  const spec = pinned.has(`deb:${name}`) ? `${name}=${pinned.get(`deb:${name}`)}` : name;
  await sh('apt-get', ['download', '-q', spec], { cwd: dlDir });
  const deb = readdirSync(dlDir).find((f) => f.startsWith(name + '_') && f.endsWith('.deb'));
  const version = (await sh('dpkg-deb', ['-f', join(dlDir, deb), 'Version'])).trim();
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest, { recursive: true });
  await sh('dpkg', ['-x', join(dlDir, deb), dest]);
  const r = { kind: 'deb', name, version, license: debCopyrightLicence(dest, name), root: dest };
  const excluded = nodeModulesOffList(dest);
  if (excluded.length) r.excluded = excluded;
  return r;
}

const sources = readFileSync(join(dataDir, 'sources.txt'), 'utf8')
  .split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
  .map((l) => { const [kind, name] = l.split(/\s+/); return { kind, name }; });

const names = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const only = names.length ? new Set(names) : null;
const outFile = join(dataDir, 'work', 'packages.json');
const previous = existsSync(outFile) ? JSON.parse(readFileSync(outFile, 'utf8')) : [];
const results = new Array(sources.length);
async function collect(i) {
  const { kind, name } = sources[i];
  if (only && !only.has(name)) { results[i] = previous.find((x) => x.kind === kind && x.name === name); return; }
  try {
    const r = kind === 'npm' ? await collectNpm(name) : await collectDeb(name);
    if (LICENCE_REVIEWED[name]) { r.license_field = r.license; r.license = LICENCE_REVIEWED[name]; r.license_reviewed = true; }
    r.kept = isPermissive(r.license);
    if (!r.kept) r.reason = `licence not on the permissive list: ${r.license || '(none)'}`;
    results[i] = r;
    console.log(`${r.kept ? 'keep' : 'DROP'} ${kind} ${name} ${r.version} [${r.license}]${r.excluded ? ` less ${r.excluded.join(', ')}` : ''}`);
  } catch (e) {
    results[i] = { kind, name, kept: false, reason: `download failed: ${String(e.message).split('\n')[0]}` };
    console.log(`FAIL ${kind} ${name}: ${String(e.message).split('\n')[0]}`);
  }
}
let next = 0;
await Promise.all(Array.from({ length: JOBS }, async () => { while (next < sources.length) await collect(next++); }));
writeFileSync(outFile, JSON.stringify(results.filter(Boolean), null, 1));
console.log(`${results.filter((r) => r && r.kept).length} kept of ${results.filter(Boolean).length}`);
