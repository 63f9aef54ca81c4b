// The prebuilt install path: `prebuildify --napi --strip` writes prebuilds/<platform>-<arch>/,
// `npm pack` ships it with dist/, and a user's `npm install lckv` works with install scripts
// skipped (npm 11 skips them until approved) and no compiler: the addon comes from prebuilds/.
//
// Slow (compiles the addon, compiles TypeScript, installs): LCKV_SKIP_PACKAGE_TEST=1 skips it.
//
// The build runs in a staged copy of the working tree, not in the repository root:
// prebuildify *moves* build/Release/lckv.node into prebuilds/ (and `node-gyp rebuild` first
// deletes build/), which would leave the repository without its own addon while other tests
// and other people use it. The copy holds what a clean checkout holds (tracked files and
// untracked files git does not ignore), with node_modules linked to the repository's.

import { strict as assert } from 'node:assert';
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeCheckpoint, removeDir, tmpDir } from './fixtures';
import { TINY } from './helpers/robustness';

const ROOT = path.resolve(__dirname, '..');
const PLATFORM_DIR = `${process.platform}-${process.arch}`;
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const NPX = process.platform === 'win32' ? 'npx.cmd' : 'npx';

/** The environment of a user's shell: none of npm's script variables or our test loader. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!/^npm_/i.test(k) && !['INIT_CWD', 'NODE_OPTIONS', 'NODE_PATH'].includes(k)) env[k] = v;
  return { ...env, ...extra };
}

/** Runs a command; rejects with its output when it fails. */
function run(cmd: string, args: string[], cwd: string, env = cleanEnv(), timeoutMs = 540_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** Copies what a clean checkout holds (tracked + untracked-not-ignored files) into dest. */
function stageWorkingTree(dest: string): void {
  const list = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 })
    .toString('utf8')
    .split('\0')
    .filter((f) => f && !/^(test|tools|bench|\.ci)\//.test(f));
  for (const rel of list) {
    const from = path.join(ROOT, rel);
    if (!fs.existsSync(from) || !fs.statSync(from).isFile()) continue; // deleted in the working tree
    fs.mkdirSync(path.dirname(path.join(dest, rel)), { recursive: true });
    fs.copyFileSync(from, path.join(dest, rel));
  }
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dest, 'node_modules'), 'dir');
}

/** A directory of stand-ins for compilers and make that record being called and fail. */
function compilerTrap(dir: string, marker: string): string {
  const bin = path.join(dir, 'trap-bin');
  fs.mkdirSync(bin);
  for (const tool of ['cc', 'c++', 'gcc', 'g++', 'clang', 'clang++', 'make', 'cmake', 'node-gyp'])
    fs.writeFileSync(path.join(bin, tool), `#!/bin/sh\necho "${tool} $*" >> "${marker}"\nexit 1\n`, { mode: 0o755 });
  return bin;
}

const describePackage = process.env.LCKV_SKIP_PACKAGE_TEST === '1' ? describe.skip : describe;

describePackage('package: prebuilt install (LCKV_SKIP_PACKAGE_TEST=1 skips)', function () {
  this.timeout(600_000);

  let stage = '';
  let out = '';
  let project = '';
  let tarball = '';
  let marker = ''; // written by the compiler stand-ins if anything calls them
  const repoHadPrebuilds = fs.existsSync(path.join(ROOT, 'prebuilds'));
  const repoAddon = path.join(ROOT, 'build', 'Release', 'lckv.node');
  const repoHadAddon = fs.existsSync(repoAddon);

  before(() => {
    stage = tmpDir('lckv-pkg-stage-');
    out = tmpDir('lckv-pkg-out-');
    project = tmpDir('lckv-pkg-project-');
    stageWorkingTree(stage);
  });

  after(() => {
    for (const d of [stage, out, project]) if (d) removeDir(d);
    // The build ran in the staged copy; should a prebuilds/ have appeared here all the same, it goes.
    if (!repoHadPrebuilds) removeDir(path.join(ROOT, 'prebuilds'));
  });

  it('prebuildify --napi --strip writes prebuilds/<platform>-<arch>/*.node', async () => {
    await run(NPX, ['prebuildify', '--napi', '--strip'], stage);
    const dir = path.join(stage, 'prebuilds', PLATFORM_DIR);
    const nodes = fs.readdirSync(dir).filter((f) => f.endsWith('.node'));
    assert.ok(nodes.length >= 1, `no .node file in ${dir}`);
    for (const f of nodes) assert.ok(fs.statSync(path.join(dir, f)).size > 10_000, `${f} is suspiciously small`);
  });

  it('npm pack ships prebuilds/ and dist/ (compiled by prepack), not build/', async () => {
    const json = await run(NPM, ['pack', '--json', '--pack-destination', out], stage);
    const info = JSON.parse(json.slice(json.indexOf('[')))[0];
    tarball = path.join(out, info.filename);
    assert.ok(fs.existsSync(tarball), `${tarball} was not written`);
    const files: string[] = info.files.map((f: { path: string }) => f.path);
    assert.ok(files.some((f) => f.startsWith(`prebuilds/${PLATFORM_DIR}/`) && f.endsWith('.node')), 'the tarball has no prebuild');
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'package.json', 'binding.gyp'])
      assert.ok(files.includes(f), `the tarball lacks ${f}`);
    assert.ok(!files.some((f) => f.startsWith('build/')), 'the tarball ships build/');
    assert.ok(!files.some((f) => f.startsWith('test/') || f.startsWith('node_modules/')), 'the tarball ships test/ or node_modules/');
  });

  it('installs into a fresh project with install scripts skipped, offline, and without a compiler', async () => {
    assert.ok(tarball, 'npm pack did not run');
    await run(NPM, ['init', '-y'], project);
    marker = path.join(project, 'compiler-was-called.log');
    const env = cleanEnv({ PATH: `${compilerTrap(project, marker)}${path.delimiter}${process.env.PATH}` });
    try {
      await run(NPM, ['install', tarball, '--ignore-scripts', '--offline', '--no-audit', '--no-fund'], project, env);
    } catch (offlineErr) {
      // The dependencies are not all in the npm cache: let npm use the registry for what is missing.
      console.log(`      offline install failed, retrying with --prefer-offline: ${(offlineErr as Error).message.split('\n')[0]}`);
      await run(NPM, ['install', tarball, '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], project, env);
    }
    const pkg = path.join(project, 'node_modules', 'lckv');
    assert.ok(fs.existsSync(path.join(pkg, 'package.json')), 'lckv is not installed');
    assert.ok(!fs.existsSync(path.join(pkg, 'build')), 'node_modules/lckv/build exists: something compiled the addon');
    assert.ok(fs.readdirSync(path.join(pkg, 'prebuilds', PLATFORM_DIR)).some((f) => f.endsWith('.node')));
    assert.ok(!fs.existsSync(marker), `a compiler ran: ${fs.existsSync(marker) ? fs.readFileSync(marker, 'utf8') : ''}`);
  });

  it('require("lckv") loads the prebuild and generates 5 tokens from token ids on a tiny checkpoint', async () => {
    const ckpt = path.join(project, 'tiny-checkpoint');
    makeCheckpoint(ckpt, { ...TINY, extraConfig: { eos_token_id: null } });
    const script = path.join(project, 'tiny.js');
    fs.writeFileSync(
      script,
      `const lckv = require('lckv');
const addon = require('node-gyp-build').resolve(require('path').dirname(require.resolve('lckv/package.json')));
lckv.loadModel(process.argv[2]).then(async (model) => {
  const r = await model.generate([1, 2, 3], { maxTokens: 5, temperature: 0 });
  await model.dispose();
  console.log(JSON.stringify({ addon, tokens: r.tokens, finishReason: r.finishReason, main: require.resolve('lckv') }));
}).catch((err) => { console.error(err); process.exit(1); });
`,
    );
    const env = cleanEnv({ PATH: `${path.join(project, 'trap-bin')}${path.delimiter}${process.env.PATH}` });
    const result = JSON.parse((await run(process.execPath, [script, ckpt], project, env, 120_000)).trim().split('\n').pop()!);
    assert.ok(result.addon.includes(`${path.sep}prebuilds${path.sep}${PLATFORM_DIR}${path.sep}`), `the addon came from ${result.addon}`);
    assert.ok(result.main.startsWith(path.join(project, 'node_modules', 'lckv')), `lckv resolved to ${result.main}`);
    assert.equal(result.tokens.length, 5);
    assert.ok(result.tokens.every((t: number) => Number.isInteger(t) && t >= 0 && t < 32));
    assert.equal(result.finishReason, 'length');
    assert.ok(!fs.existsSync(marker), 'a compiler ran when lckv was loaded');
  });

  it('loadModel() with no argument generates text from "The" with the bundled model, and tokenizes long texts on its worker thread', async () => {
    const script = path.join(project, 'bundled.js');
    fs.writeFileSync(
      script,
      `process.on('warning', (w) => {
  if (w.code === 'LCKV_TOKENIZER_THREAD') { console.error(w.message); process.exit(1); }
});
require('lckv').loadModel().then(async (model) => {
  const r = await model.generate('The', { maxTokens: 12, temperature: 0 });
  const long = 'The Congress of the United States. '.repeat(200);
  const sameIds = JSON.stringify(await model.tokenizeAsync(long)) === JSON.stringify(model.tokenize(long));
  await model.dispose();
  console.log(JSON.stringify({ text: r.text, tokens: r.tokens.length, sameIds }));
}).catch((err) => { console.error(err); process.exit(1); });
`,
    );
    const result = JSON.parse((await run(process.execPath, [script], project, cleanEnv(), 300_000)).trim().split('\n').pop()!);
    assert.ok(result.tokens > 0, 'no tokens generated');
    assert.equal(typeof result.text, 'string');
    assert.ok(result.text.length > 0, 'no text generated');
    assert.equal(result.sameIds, true);
  });

  it('left the repository as it was (its own addon in place, no prebuilds/)', () => {
    if (repoHadAddon) assert.ok(fs.existsSync(repoAddon), 'build/Release/lckv.node disappeared');
    if (!repoHadPrebuilds) assert.ok(!fs.existsSync(path.join(ROOT, 'prebuilds')), 'prebuilds/ appeared in the repository');
  });
});
