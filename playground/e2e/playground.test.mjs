// Browser tests of the playground: the real `gatehouse playground` process on a free loopback
// port, driven in Debian's headless Chromium through playwright-core (no browser is
// downloaded). Screenshots of each step go to target/playground-screenshots/.
//
// Environment: GATEHOUSE_BIN (default target/debug/gatehouse), CHROMIUM (default
// /usr/bin/chromium).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const binary = process.env.GATEHOUSE_BIN ?? join(root, 'target/debug/gatehouse');
const shots = join(root, 'target/playground-screenshots');
mkdirSync(shots, { recursive: true });

let server;
let baseUrl;
let browser;
let page;
const pageErrors = [];

function startServer() {
  return new Promise((resolveUrl, reject) => {
    const child = spawn(binary, ['playground', '--listen', '127.0.0.1:0', '--timeout', '400ms', '--max-request-kib', '256'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`gatehouse playground did not print its address within 20 s:\n${output}`));
    }, 20_000);
    child.stdout.on('data', (chunk) => {
      output += chunk;
      const m = output.match(/playground: (http:\/\/127\.0\.0\.1:\d+\/)/);
      if (m) {
        clearTimeout(timer);
        resolveUrl({ child, url: m[1] });
      }
    });
    child.stderr.on('data', (chunk) => { output += chunk; });
    child.on('error', (e) => { clearTimeout(timer); reject(new Error(`cannot start ${binary}: ${e.message}; build it with cargo build -p gatehouse`)); });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`gatehouse playground exited with ${code}:\n${output}`)); });
  });
}

before(async () => {
  ({ child: server, url: baseUrl } = await startServer());
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
    timeout: 30_000,
  });
  page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.setDefaultTimeout(15_000);
  page.on('pageerror', (e) => pageErrors.push(e.message));
  // Answers such as 422 (a policy that does not compile) are expected; anything else is not.
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of (413|422|503)/.test(m.text())) pageErrors.push(m.text());
  });
});

after(async () => {
  await browser?.close();
  server?.kill();
});

async function open(hash = '') {
  // A fresh document each time (changing only the fragment would keep the page).
  await page.goto('about:blank');
  await page.goto(baseUrl + hash);
  await page.waitForSelector('body[data-ready="true"]');
}

async function runs() {
  return Number(await page.evaluate(() => document.body.dataset.runs ?? 0));
}

/** Presses Ctrl+Enter (or clicks `button`) and waits for the answer to be drawn. */
async function evaluate(button) {
  const before = await runs();
  if (button) await page.click(button);
  else await page.keyboard.press('Control+Enter');
  await page.waitForFunction((n) => Number(document.body.dataset.runs ?? 0) > n, before);
}

/** Replaces the text of an editor (#policy-editor, #input-editor, #data-editor) as a user would. */
async function replaceText(editor, text) {
  await page.click(`${editor} .cm-content`);
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
}

async function shot(name) {
  await page.screenshot({ path: join(shots, `${name}.png`) });
}

async function outputText() {
  return page.locator('#output').innerText();
}

/** 1-based line numbers of editor lines carrying `className` in `editor`. */
async function linesWith(editor, selector) {
  return page.evaluate(([ed, sel]) => {
    const lines = [...document.querySelectorAll(`${ed} .cm-content > .cm-line`)];
    return lines.map((l, i) => (l.matches(sel) || l.querySelector(sel) ? i + 1 : 0)).filter(Boolean);
  }, [editor, selector]);
}

test('the page loads the first example and evaluates it with Ctrl+Enter', async () => {
  await open();
  assert.equal(await page.title(), 'Gatehouse playground');
  assert.equal(await page.inputValue('#query'), 'data.example.deny');
  await evaluate();
  const text = await outputText();
  assert.match(text, /container \\"app\\" has no resource limits/);
  assert.match(await page.locator('#timing').innerText(), /eval .*round trip/);
  await shot('01-first-example');
});

test('a typed policy is evaluated and its deny message shown', async () => {
  await open();
  await replaceText('#policy-editor', [
    'package shop',
    '',
    'deny contains msg if {',
    '\tinput.replicas < 2',
    '\tmsg := sprintf("only %d replica; production needs at least 2", [input.replicas])',
    '}',
    '',
  ].join('\n'));
  await replaceText('#input-editor', '{"replicas": 1}');
  await page.fill('#query', 'data.shop.deny');
  await evaluate('#evaluate');
  assert.match(await outputText(), /only 1 replica; production needs at least 2/);
  await shot('02-typed-policy');
});

test('coverage highlights evaluated and unreached lines', async () => {
  await open();
  await evaluate();
  const covered = await linesWith('#policy-editor', '.cm-covered');
  const uncovered = await linesWith('#policy-editor', '.cm-uncovered');
  assert.ok(covered.includes(8), `line 8 (the first deny body) is covered: ${covered}`);
  assert.deepEqual(uncovered, [19], 'only `allow` is never reached by data.example.deny');
  await page.uncheck('#coverage');
  assert.deepEqual(await linesWith('#policy-editor', '.cm-covered'), [], 'coverage can be switched off');
  await page.check('#coverage');
  assert.ok((await linesWith('#policy-editor', '.cm-covered')).length > 0);
});

test('a compile error is marked on the right line', async () => {
  await open();
  await replaceText('#policy-editor', 'package broken\n\ndeny contains msg if {\n\tinput.x == = 1\n\tmsg := "x"\n}\n');
  await page.fill('#query', 'data.broken.deny');
  await evaluate();
  assert.match(await outputText(), /The policy does not compile/);
  assert.match(await outputText(), /policy\.rego:4:13/);
  assert.deepEqual(await linesWith('#policy-editor', '.cm-lintRange-error'), [4]);
  assert.equal(await page.locator('.tab.has-error').count(), 1, 'the file tab shows the error');
  await shot('03-compile-error');
});

test('invalid JSON in the input pane is marked where it breaks', async () => {
  await open();
  await replaceText('#input-editor', '{\n  "spec": {\n    "containers": [,]\n  }\n}');
  // Underlined while typing, before any evaluation...
  await page.waitForSelector('#input-editor .cm-lintRange-error, #input-editor .cm-lintPoint-error', { state: 'attached' });
  assert.deepEqual(await linesWith('#input-editor', '.cm-lintRange-error, .cm-lintPoint-error'), [3]);
  // ...and refused with the place named when evaluated anyway.
  await evaluate();
  assert.match(await outputText(), /not valid JSON at line 3/);
  assert.deepEqual(await linesWith('#input-editor', '.cm-lintRange-error'), [3]);
  await shot('04-invalid-input');
});

test('a huge input is refused with a clear message', async () => {
  await open();
  await replaceText('#input-editor', `{"blob": "${'x'.repeat(300 * 1024)}"}`);
  await evaluate();
  const text = await outputText();
  assert.match(text, /Too large/);
  assert.match(text, /over the playground's limit of 256\.0 KiB/);
});

test('a looping policy is stopped with a clear message and the page stays usable', async () => {
  await open();
  await replaceText('#policy-editor', 'package slow\n\nr := numbers.range(1, 30000)\n\nspin contains n if {\n\tsome i in r\n\tsome j in r\n\tn := i * j\n\tn < 0\n}\n');
  await page.fill('#query', 'data.slow.spin');
  await evaluate();
  assert.match(await outputText(), /Time limit reached/);
  assert.match(await outputText(), /400 ms time limit/);
  await page.fill('#query', '1 + 1');
  await evaluate();
  assert.match(await outputText(), /DEFINED/);
});

test('a policy asking for unbounded memory costs one worker, not the server', async () => {
  await open();
  await replaceText('#policy-editor', 'package greedy\n\nx := count(numbers.range(1, 10000000000))\n');
  await page.fill('#query', 'data.greedy.x');
  await evaluate();
  assert.match(await outputText(), /ran out of memory/);
  await page.fill('#query', '2 * 21');
  await evaluate();
  assert.match(await outputText(), /42/, 'rules the query does not reach are not evaluated');
  await page.fill('#query', 'data.greedy.x');
  await replaceText('#policy-editor', 'package greedy\n\nx := count(numbers.range(1, 1000))\n');
  await evaluate();
  assert.match(await outputText(), /1000/, 'the server still answers');
});

test('the Test button runs test_ rules and shows where a failing one stopped', async () => {
  await open();
  await evaluate('#test');
  assert.match(await outputText(), /PASS[\s\S]*2\/2 passed/);
  await shot('05-tests-pass');
  await page.click('.tab[data-file="policy_test.rego"]');
  await page.click('#policy-editor .cm-content');
  await page.keyboard.press('Control+End');
  await page.keyboard.insertText('\ntest_wrong if {\n\tx := 2\n\tx > 5\n}\n');
  await evaluate('#test');
  const text = await outputText();
  assert.match(text, /FAIL[\s\S]*2\/3 passed, 1 failed/);
  assert.match(text, /stopped at policy_test\.rego:\d+ x > 5/);
  assert.equal(await page.locator('#policy-editor .cm-lintRange-warning').count(), 1);
  await shot('06-tests-fail');
});

test('the Scenario 4 example decides a render as the hub would', async () => {
  await open();
  await page.click('#examples-button');
  await page.waitForSelector('#examples-menu:not([hidden])');
  await shot('07a-examples-menu');
  await page.click('[data-example="seed-scenario-4"]');
  assert.equal(await page.locator('#kind').inputValue(), 'render');
  assert.equal(await page.locator('.tab[data-file="workload.rego"] .badge-v0').count(), 1, 'read as Rego v0');
  await evaluate();
  const text = await outputText();
  assert.match(text, /DENY/);
  assert.match(text, /Container 'app' in production must have resource limits/);
  assert.match(text, /Deployment\/shop\/checkout/);
  assert.match(text, /gitopshq\.workload/);
  await shot('07-scenario-4-decision');
});

test('a built-in library example shows the requirements still to meet', async () => {
  await open('#example=library-governance-approvals');
  assert.deepEqual(await page.locator('.tab').allInnerTexts(),
    ['governance/approvals.rego', 'governance/approvals_test.rego', 'lib/clock.rego', 'lib/scope.rego', 'bindings.yaml']);
  await evaluate();
  const text = await outputText();
  assert.match(text, /PENDING/);
  assert.match(text, /REQUIREMENTS/);
  await shot('08-library-approvals');
  await page.evaluate(() => { location.hash = 'example=seed-scenario-4'; });
  await page.waitForSelector('.tab[data-file="workload.rego"]');
});

test('a share link round-trips the whole state', async () => {
  await open();
  await replaceText('#policy-editor', 'package shared\n\nanswer := input.n * 2\n');
  await replaceText('#input-editor', '{"n": 21}');
  await replaceText('#data-editor', '{"team": "platform"}');
  await page.click('#add-file');
  await page.keyboard.insertText('# a second file\n');
  await page.fill('#query', 'data.shared.answer');
  await page.click('#mode-query');
  await page.click('#share');
  await page.waitForSelector('#share-dialog[open]');
  const link = await page.inputValue('#share-url');
  assert.match(link, /#s=[A-Za-z0-9_-]+$/);
  await shot('09-share-dialog');
  await page.click('#share-dialog button');

  const other = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  await other.goto(link);
  await other.waitForSelector('body[data-ready="true"]');
  const tabs = await other.locator('.tab').allInnerTexts();
  assert.deepEqual(tabs, ['policy.rego', 'policy_test.rego', 'policy3.rego']);
  assert.equal(await other.inputValue('#query'), 'data.shared.answer');
  await other.click('.tab[data-file="policy.rego"]');
  assert.match(await other.locator('#policy-editor .cm-content').innerText(), /answer := input\.n \* 2/);
  assert.match(await other.locator('#data-editor .cm-content').innerText(), /platform/);
  const before = Number(await other.evaluate(() => document.body.dataset.runs ?? 0));
  await other.keyboard.press('Control+Enter');
  await other.waitForFunction((n) => Number(document.body.dataset.runs ?? 0) > n, before);
  assert.match(await other.locator('#output').innerText(), /42/);
  await other.close();
});

test('light and dark themes', async () => {
  await open('#example=library-k8s-resource_limits');
  await evaluate();
  await page.click('#theme');
  const theme = await page.evaluate(() => document.documentElement.dataset.theme);
  await shot(`10-theme-${theme}`);
  await page.click('#theme');
  const back = await page.evaluate(() => document.documentElement.dataset.theme);
  assert.notEqual(theme, back);
  await shot(`11-theme-${back}`);
});

test('panes resize by dragging their gutters', async () => {
  await open();
  const width = async () => (await page.locator('#policies-pane').boundingBox()).width;
  const start = await width();
  const gutter = await page.locator('[data-resize="col1"]').boundingBox();
  await page.mouse.move(gutter.x + 3, gutter.y + 200);
  await page.mouse.down();
  await page.mouse.move(gutter.x - 200, gutter.y + 200, { steps: 5 });
  await page.mouse.up();
  const end = await width();
  assert.ok(end < start - 150, `the policy pane shrank from ${start} to ${end}`);
});

test('no errors in the browser console', () => {
  assert.deepEqual(pageErrors, []);
});
