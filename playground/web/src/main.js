// The Gatehouse playground page: policy files, input and data editors, a query box or an action
// kind, and an output pane showing results, decisions, rule values, tests, coverage and errors.
// Everything is evaluated by the server's engine through api/evaluate and api/test (relative
// URLs, so the page works wherever it is mounted).
import { EditorState, StateEffect, StateField, RangeSetBuilder } from '@codemirror/state';
import {
  EditorView, Decoration, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter,
  drawSelection, gutter, GutterMarker, highlightSpecialChars,
} from '@codemirror/view';
import { defaultKeymap, history as undoHistory, historyKeymap, indentWithTab, toggleComment } from '@codemirror/commands';
import {
  HighlightStyle, syntaxHighlighting, bracketMatching, indentOnInput, foldGutter, syntaxTree,
} from '@codemirror/language';
import { closeBrackets, closeBracketsKeymap } from '@codemirror/autocomplete';
import { searchKeymap, highlightSelectionMatches } from '@codemirror/search';
import { setDiagnostics, lintGutter, linter } from '@codemirror/lint';
import { json, jsonParseLinter } from '@codemirror/lang-json';
import { tags } from '@lezer/highlight';
import { regoLanguage } from './rego.js';
import { encodeState, decodeState } from './share.js';

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------------------------
// Editor setup

const highlight = HighlightStyle.define([
  { tag: tags.keyword, class: 'tok-keyword' },
  { tag: [tags.atom, tags.bool, tags.null], class: 'tok-atom' },
  { tag: tags.number, class: 'tok-number' },
  { tag: tags.string, class: 'tok-string' },
  { tag: tags.comment, class: 'tok-comment' },
  { tag: tags.operator, class: 'tok-operator' },
  { tag: tags.function(tags.variableName), class: 'tok-function' },
  { tag: tags.special(tags.variableName), class: 'tok-special' },
  { tag: tags.propertyName, class: 'tok-property' },
  { tag: [tags.bracket, tags.punctuation], class: 'tok-punct' },
]);

// Coverage: line decorations for evaluated and never-reached lines, plus a gutter bar.
const setCoverage = StateEffect.define();
const coveredLine = Decoration.line({ class: 'cm-covered' });
const uncoveredLine = Decoration.line({ class: 'cm-uncovered' });
const coverageField = StateField.define({
  create: () => Decoration.none,
  update(deco, tr) {
    deco = deco.map(tr.changes);
    for (const e of tr.effects) {
      if (!e.is(setCoverage)) continue;
      if (!e.value) return Decoration.none;
      const { covered, not_covered: notCovered } = e.value;
      const lines = [
        ...covered.map((l) => [l, coveredLine]),
        ...notCovered.map((l) => [l, uncoveredLine]),
      ].sort((a, b) => a[0] - b[0]);
      const builder = new RangeSetBuilder();
      for (const [l, d] of lines) {
        if (l >= 1 && l <= tr.state.doc.lines) {
          const pos = tr.state.doc.line(l).from;
          builder.add(pos, pos, d);
        }
      }
      deco = builder.finish();
    }
    return deco;
  },
  provide: (f) => EditorView.decorations.from(f),
});

const runKeys = (run) => keymap.of([
  { key: 'Mod-Enter', run: () => { run(); return true; }, preventDefault: true },
  { key: 'Mod-/', run: toggleComment },
]);

function baseExtensions(language, onRun) {
  return [
    lineNumbers(),
    highlightActiveLineGutter(),
    foldGutter(),
    lintGutter(),
    highlightSpecialChars(),
    undoHistory(),
    drawSelection(),
    indentOnInput(),
    bracketMatching(),
    closeBrackets(),
    highlightActiveLine(),
    highlightSelectionMatches(),
    syntaxHighlighting(highlight),
    coverageField,
    EditorState.tabSize.of(4),
    runKeys(onRun),
    keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...searchKeymap, ...historyKeymap, indentWithTab]),
    language,
    EditorView.updateListener.of((u) => { if (u.docChanged) markDirty(); }),
  ];
}

// ---------------------------------------------------------------------------------------------
// State

const app = {
  files: [], // {name, v0, state: EditorState}
  active: 0,
  mode: 'query',
  kinds: [],
  examples: [],
  limits: null,
  lastResult: null, // {kind: 'evaluate'|'test', body}
  busy: false,
};

let policyView;
let inputView;
let dataView;

function regoState(text) {
  return EditorState.create({ doc: text, extensions: baseExtensions(regoLanguage, evaluate) });
}

// JSON mistakes are underlined while typing, where the parser first stumbled (browsers' own
// JSON.parse messages no longer say where); an empty pane is fine (no input, no data).
const checkJson = jsonParseLinter();
const jsonLinter = linter((view) => {
  const text = view.state.doc.toString();
  if (!text.trim()) return [];
  let reason = null;
  try {
    JSON.parse(text);
    return [];
  } catch (e) {
    reason = e.message;
  }
  let at = null;
  syntaxTree(view.state).iterate({
    enter(node) {
      if (at === null && node.type.isError) at = node.from;
      return at === null;
    },
  });
  if (at === null) return checkJson(view);
  const to = Math.min(at + 1, view.state.doc.length);
  return [{ from: at, to, severity: 'error', message: `Not valid JSON here: ${reason}` }];
}, { delay: 400 });

function jsonState(text) {
  return EditorState.create({ doc: text, extensions: [baseExtensions(json(), evaluate), jsonLinter] });
}

function markDirty() {
  document.body.classList.add('dirty');
}

function saveActive() {
  if (app.files[app.active]) app.files[app.active].state = policyView.state;
}

function selectFile(index) {
  saveActive();
  app.active = Math.max(0, Math.min(index, app.files.length - 1));
  policyView.setState(app.files[app.active].state);
  renderTabs();
}

function renderTabs() {
  const tabs = $('file-tabs');
  tabs.replaceChildren();
  app.files.forEach((f, i) => {
    const tab = document.createElement('button');
    tab.className = 'tab' + (i === app.active ? ' active' : '') + (f.error ? ' has-error' : '');
    tab.setAttribute('role', 'tab');
    tab.setAttribute('aria-selected', String(i === app.active));
    tab.dataset.file = f.name;
    tab.textContent = f.name;
    if (f.v0) {
      const badge = document.createElement('span');
      badge.className = 'badge-v0';
      badge.textContent = 'v0';
      tab.append(badge);
    }
    tab.title = f.error ? `${f.name}: ${f.error}` : `${f.name} (double-click to rename)`;
    tab.addEventListener('click', () => selectFile(i));
    tab.addEventListener('dblclick', () => renameFile(i));
    tabs.append(tab);
  });
  $('file-v0').checked = !!app.files[app.active]?.v0;
  $('delete-file').disabled = app.files.length <= 1;
}

function addFile() {
  saveActive();
  let n = app.files.length + 1;
  while (app.files.some((f) => f.name === `policy${n}.rego`)) n++;
  const name = `policy${n}.rego`;
  app.files.push({ name, v0: false, state: regoState(`package policy${n}\n\n`) });
  selectFile(app.files.length - 1);
  policyView.focus();
}

function renameFile(i) {
  const f = app.files[i];
  const name = prompt('File name (ending in .rego, or bindings.yaml):', f.name);
  if (!name || name === f.name) return;
  if (app.files.some((g) => g.name === name)) {
    showMessage(`A file named ${name} already exists; choose another name.`);
    return;
  }
  f.name = name.trim();
  renderTabs();
}

function deleteFile() {
  if (app.files.length <= 1) return;
  const f = app.files[app.active];
  if (!confirm(`Delete ${f.name}?`)) return;
  app.files.splice(app.active, 1);
  app.active = Math.min(app.active, app.files.length - 1);
  policyView.setState(app.files[app.active].state);
  renderTabs();
}

function setMode(mode) {
  app.mode = mode === 'decision' ? 'decision' : 'query';
  for (const b of document.querySelectorAll('[data-mode]')) {
    const on = b.dataset.mode === app.mode;
    b.classList.toggle('active', on);
    b.setAttribute('aria-checked', String(on));
  }
  $('query-box').hidden = app.mode !== 'query';
  $('kind-box').hidden = app.mode !== 'decision';
  $('input-sub').textContent = app.mode === 'decision'
    ? 'the action document (JSON)'
    : 'JSON, as input';
}

function currentState() {
  saveActive();
  return {
    v: 1,
    files: app.files.map((f) => ({ name: f.name, content: f.state.doc.toString(), v0: !!f.v0 })),
    active: app.active,
    input: inputView.state.doc.toString(),
    data: dataView.state.doc.toString(),
    mode: app.mode,
    query: $('query').value,
    kind: $('kind').value,
  };
}

function loadState(s) {
  app.files = (s.files.length ? s.files : [{ name: 'policy.rego', content: 'package example\n' }])
    .map((f) => ({ name: f.name, v0: !!f.v0, state: regoState(f.content ?? '') }));
  app.active = Math.min(s.active ?? 0, app.files.length - 1);
  policyView.setState(app.files[app.active].state);
  inputView.setState(jsonState(s.input ?? ''));
  dataView.setState(jsonState(s.data ?? ''));
  $('query').value = s.query ?? '';
  if (s.kind && app.kinds.includes(s.kind)) $('kind').value = s.kind;
  setMode(s.mode);
  renderTabs();
  clearFeedback();
  $('output').replaceChildren(welcome());
  $('timing').textContent = '';
}

// ---------------------------------------------------------------------------------------------
// Feedback in the editors: markers and coverage

function positionOf(doc, line, col) {
  const l = doc.line(Math.max(1, Math.min(line, doc.lines)));
  const from = Math.min(l.from + Math.max(0, col - 1), l.to);
  let to = from;
  const word = /[\w.]/;
  while (to < l.to && word.test(doc.sliceString(to, to + 1))) to++;
  if (to === from) to = from < l.to ? from + 1 : from;
  return { from, to };
}

function toDiagnostics(state, markers) {
  return markers.map((m) => {
    const { from, to } = positionOf(state.doc, m.line, m.col);
    return {
      from,
      to,
      severity: m.severity === 'warning' ? 'warning' : 'error',
      message: m.hint ? `${m.message}\nHint: ${m.hint}` : m.message,
      source: `${m.file}:${m.line}:${m.col}`,
    };
  });
}

function applyToFile(index, build) {
  if (index === app.active) {
    policyView.dispatch(build(policyView.state));
  } else {
    const f = app.files[index];
    f.state = f.state.update(build(f.state)).state;
  }
}

function clearFeedback() {
  saveActive();
  app.files.forEach((f, i) => {
    f.error = null;
    applyToFile(i, (s) => {
      const spec = setDiagnostics(s, []);
      return { ...spec, effects: [].concat(spec.effects ?? [], setCoverage.of(null)) };
    });
  });
  for (const v of [inputView, dataView]) v.dispatch(setDiagnostics(v.state, []));
  $('query').classList.remove('invalid');
  $('query').removeAttribute('title');
  renderTabs();
}

function showMarkers(markers) {
  const byFile = new Map();
  for (const m of markers) {
    if (!byFile.has(m.file)) byFile.set(m.file, []);
    byFile.get(m.file).push(m);
  }
  app.files.forEach((f, i) => {
    const own = byFile.get(f.name) ?? [];
    f.error = own.find((m) => m.severity !== 'warning')?.message ?? null;
    applyToFile(i, (s) => setDiagnostics(s, toDiagnostics(s, own)));
  });
  for (const [pane, view] of [['input', inputView], ['data', dataView]]) {
    view.dispatch(setDiagnostics(view.state, toDiagnostics(view.state, byFile.get(pane) ?? [])));
  }
  const q = byFile.get('query');
  if (q) {
    $('query').classList.add('invalid');
    $('query').title = q.map((m) => `column ${m.col}: ${m.message}`).join('\n');
  }
  renderTabs();
}

function showCoverage(coverage) {
  const on = $('coverage').checked;
  const files = new Map((coverage?.files ?? []).map((f) => [f.path, f]));
  app.files.forEach((f, i) => {
    const c = on ? files.get(f.name) : null;
    applyToFile(i, () => ({ effects: setCoverage.of(c ? { covered: c.covered, not_covered: c.not_covered } : null) }));
  });
}

function jumpTo(file, line, col = 1) {
  const target = file === 'input' ? inputView : file === 'data' ? dataView : null;
  let view = target;
  if (!view) {
    const i = app.files.findIndex((f) => f.name === file);
    if (i < 0) return;
    if (i !== app.active) selectFile(i);
    view = policyView;
  }
  const { from } = positionOf(view.state.doc, line, col);
  view.dispatch({ selection: { anchor: from }, effects: EditorView.scrollIntoView(from, { y: 'center' }) });
  view.focus();
}

// ---------------------------------------------------------------------------------------------
// Output rendering

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function locationLink(file, line, col) {
  const a = el('button', 'loc', `${file}:${line}${col ? `:${col}` : ''}`);
  a.addEventListener('click', () => jumpTo(file, line, col));
  return a;
}

function section(title, count) {
  const s = el('section', 'out-section');
  const h = el('h3', null, title);
  if (count !== undefined) h.append(el('span', 'count', String(count)));
  s.append(h);
  return s;
}

function pretty(value) {
  return JSON.stringify(value, null, 2);
}

function short(value, max = 120) {
  const text = JSON.stringify(value);
  return text.length > max ? text.slice(0, max - 1) + '…' : text;
}

function ms(us) {
  return us >= 1000 ? `${(us / 1000).toFixed(1)} ms` : `${us} µs`;
}

function showTiming(timing, roundTrip) {
  const parts = [];
  if (timing) parts.push(`compile ${ms(timing.compile_us)}`, `eval ${ms(timing.eval_us)}`);
  parts.push(`round trip ${roundTrip.toFixed(0)} ms`);
  $('timing').textContent = parts.join(' · ');
}

function banner(kind, title, detail) {
  const b = el('div', `banner ${kind}`);
  b.dataset.outcome = kind;
  b.append(el('strong', null, title));
  if (detail) b.append(el('span', null, detail));
  return b;
}

function welcome() {
  const box = el('div', 'welcome');
  box.append(el('p', null, 'Press Ctrl+Enter to evaluate.'));
  const tips = el('ul', 'muted');
  for (const tip of [
    'Query evaluates a Rego query, like gatehouse eval; Decision decides the input as an action, like gatehouse decide, and shows what the hub would do.',
    'Errors are underlined where they are; green lines were evaluated, red lines never reached.',
    'Test runs the test_* rules, like gatehouse test.',
    'Share copies a link that holds everything on the page; nothing is stored on a server.',
  ]) tips.append(el('li', null, tip));
  box.append(tips);
  return box;
}

function showMessage(text) {
  $('output').replaceChildren(banner('error', 'Cannot evaluate', text));
}

function renderFailure(error) {
  const out = $('output');
  const titles = {
    compile: 'The policy does not compile',
    bundle: 'The files cannot be loaded',
    input: 'The input cannot be used',
    data: 'The data cannot be used',
    query: 'The query cannot be evaluated',
    runtime: 'Evaluation failed',
    timeout: 'Time limit reached',
    resources: 'Out of memory',
    too_large: 'Too large',
    busy: 'Busy',
    overrun: 'Took too long',
    bad_request: 'Bad request',
  };
  const nodes = [banner('error', titles[error.code] ?? 'Error', error.message)];
  if (error.markers?.length) {
    const s = section('Where', error.markers.length);
    const list = el('ul', 'markers');
    for (const m of error.markers) {
      const li = el('li');
      li.append(locationLink(m.file, m.line, m.col), el('span', null, ` ${m.message}`));
      if (m.hint) li.append(el('div', 'hint', `Hint: ${m.hint}`));
      list.append(li);
    }
    s.append(list);
    nodes.push(s);
  }
  out.replaceChildren(...nodes);
}

function renderFindings(title, findings, kind) {
  const s = section(title, findings.length);
  s.classList.add(kind);
  const list = el('ul', 'findings');
  for (const f of findings) {
    const li = el('li', `finding ${kind}`);
    const head = el('div', 'finding-head');
    head.append(el('span', `sev sev-${f.severity}`, f.severity), el('code', null, `${f.policy}.${f.rule}`));
    if (f.object) head.append(el('span', 'object', f.object));
    if (f.mode) head.append(el('span', 'mode', f.mode));
    li.append(head, el('div', 'message', f.message));
    list.append(li);
  }
  s.append(list);
  return s;
}

function renderDecision(body) {
  const d = { violations: [], warnings: [], audit: [], requirements: [], ...body.decision };
  const nodes = [];
  const summary = d.outcome === 'deny'
    ? `${d.violations.length === 1 ? '1 violation blocks' : `${d.violations.length} violations block`} this ${d.kind || 'action'}.`
    : d.outcome === 'pending'
      ? (() => {
        const n = d.requirements.filter((r) => !r.satisfied).length;
        return `Allowed once ${n === 1 ? 'the requirement is' : `${n} requirements are`} met.`;
      })()
      : `Nothing blocks this ${d.kind || 'action'}.`;
  nodes.push(banner(d.outcome, d.outcome.toUpperCase(), summary));
  if (d.violations.length) nodes.push(renderFindings('Violations', d.violations, 'violation'));
  if (d.requirements.length) {
    const s = section('Requirements', d.requirements.length);
    const list = el('ul', 'findings');
    for (const r of d.requirements) {
      const li = el('li', `finding requirement ${r.satisfied ? 'met' : 'unmet'}`);
      const head = el('div', 'finding-head');
      head.append(el('span', 'tick', r.satisfied ? '✓' : '…'), el('code', null, r.id), el('span', 'object', r.type));
      li.append(head, el('div', 'message', r.message));
      list.append(li);
    }
    s.append(list);
    nodes.push(s);
  }
  if (d.warnings.length) nodes.push(renderFindings('Warnings', d.warnings, 'warning'));
  if (d.audit.length) nodes.push(renderFindings('Audit', d.audit, 'audit'));
  if (d.explain) {
    const s = section('Explain: policies', d.explain.length);
    const table = el('table', 'explain');
    const head = el('tr');
    for (const h of ['policy', 'ran', 'input', 'fired']) head.append(el('th', null, h));
    table.append(head);
    for (const p of d.explain) {
      const tr = el('tr', p.mode ? 'ran' : 'skipped');
      const fired = p.fired ?? [];
      tr.append(
        el('td', null, p.policy),
        el('td', null, p.mode ? p.mode : `skipped: ${p.skipped ?? ''}`),
        el('td', null, p.input),
        el('td', null, fired.length ? fired.map((r) => `${r.rule} ×${r.count}`).join(', ') : '—'),
      );
      table.append(tr);
    }
    s.append(table);
    nodes.push(s);
  }
  const meta = el('p', 'muted small', `${d.decision_id} · revision ${d.revision} · decided in ${ms(d.duration_us)}`);
  nodes.push(meta);
  return nodes;
}

function renderQuery(body) {
  const nodes = [];
  const results = body.result?.result ?? [];
  if (!results.length) {
    nodes.push(banner('undefined', 'UNDEFINED', 'The query has no result for this input.'));
  } else {
    nodes.push(banner('defined', 'DEFINED', `${results.length} result${results.length === 1 ? '' : 's'}${results.some((r) => r.bindings) ? ', with bindings' : ''}`));
  }
  const s = section(results.length === 1 && results[0].expressions.length === 1 && !results[0].bindings ? 'Value' : 'Result');
  const simple = results.length === 1 && results[0].expressions.length === 1 && !results[0].bindings;
  s.append(el('pre', 'json', simple ? pretty(results[0].expressions[0].value) : pretty(body.result)));
  nodes.push(s);
  if (body.notes?.length) {
    const n = section('Print output', body.notes.length);
    n.append(el('pre', 'notes', body.notes.join('\n')));
    nodes.push(n);
  }
  if (body.rules?.length) {
    const r = section('Explain: rules against this input', body.rules.length);
    const table = el('table', 'explain rules');
    const head = el('tr');
    for (const h of ['rule', 'where', 'value']) head.append(el('th', null, h));
    table.append(head);
    for (const rule of body.rules) {
      const fired = rule.status === 'defined' && rule.value !== false;
      const tr = el('tr', `rule-${rule.status}${fired ? ' fired' : ''}`);
      const where = el('td');
      rule.lines.forEach((l, i) => {
        if (i) where.append(' ');
        where.append(locationLink(rule.file, l));
      });
      const value = rule.status === 'defined'
        ? short(rule.value)
        : rule.status === 'error' ? rule.value
          : rule.status === 'not_evaluated' ? 'not reached by this query' : 'undefined';
      tr.append(el('td', null, `${rule.package}.${rule.name}`), where, el('td', 'value', value));
      tr.title = rule.status === 'defined' ? pretty(rule.value) : value;
      table.append(tr);
    }
    r.append(table);
    nodes.push(r);
  }
  return nodes;
}

function renderCoverageSummary(coverage) {
  if (!coverage?.files?.length) return [];
  const s = section('Coverage', `${coverage.percent}%`);
  const list = el('ul', 'coverage-list');
  for (const f of coverage.files) {
    const total = f.covered.length + f.not_covered.length;
    const li = el('li');
    const bar = el('span', 'meter');
    const fill = el('span', 'fill');
    fill.style.width = `${f.percent}%`;
    bar.append(fill);
    li.append(bar, el('span', null, ` ${f.covered.length}/${total} lines `), locationLink(f.path, f.not_covered[0] ?? f.covered[0] ?? 1));
    list.append(li);
  }
  s.append(list);
  return [s];
}

function renderTests(body) {
  const { summary } = body;
  const total = body.tests.length;
  const failed = summary.fail + summary.error;
  const nodes = [];
  if (!total) {
    nodes.push(banner('undefined', 'NO TESTS', 'Add rules named test_* (for example in a policy_test.rego file) and press Test again.'));
    return nodes;
  }
  nodes.push(banner(failed ? 'deny' : 'allow', failed ? 'FAIL' : 'PASS',
    `${summary.pass}/${total} passed` + (summary.fail ? `, ${summary.fail} failed` : '') + (summary.error ? `, ${summary.error} errored` : '') + (summary.skip ? `, ${summary.skip} skipped` : '')));
  const s = section('Tests', total);
  const list = el('ul', 'tests');
  for (const t of body.tests) {
    const li = el('li', `test test-${t.status}`);
    const name = el('code', 'test-name', `data.${t.package}.${t.name}`);
    name.title = name.textContent;
    li.append(el('span', `status status-${t.status}`, t.status.toUpperCase()), name,
      el('span', 'muted small', ms(Math.round(t.duration / 1000))), locationLink(t.file, t.line));
    if (t.status === 'error') li.append(el('div', 'message', t.detail));
    if (t.explanation?.stopped_at) {
      const [line, text] = t.explanation.stopped_at;
      const d = el('div', 'message');
      d.append('stopped at ', locationLink(t.file, line), ` ${text}`);
      li.append(d);
    }
    for (const note of t.explanation?.notes ?? []) li.append(el('div', 'note', note));
    list.append(li);
  }
  s.append(list);
  nodes.push(s);
  return nodes;
}

function render() {
  const last = app.lastResult;
  if (!last) return;
  const { kind, body } = last;
  if (kind === 'failure') {
    renderFailure(body.error);
    showMarkers(body.error.markers ?? []);
    return;
  }
  let nodes;
  if (kind === 'test') nodes = renderTests(body);
  else if (body.mode === 'decision') nodes = renderDecision(body);
  else nodes = renderQuery(body);
  if (body.markers?.length) {
    const s = section(kind === 'test' ? 'Failures and errors' : 'Errors in policies', body.markers.length);
    const list = el('ul', 'markers');
    for (const m of body.markers) {
      const li = el('li');
      li.append(locationLink(m.file, m.line, m.col), el('span', null, ` ${m.message}`));
      list.append(li);
    }
    s.append(list);
    nodes.splice(1, 0, s);
  }
  nodes.push(...renderCoverageSummary(body.coverage));
  $('output').replaceChildren(...nodes);
  showMarkers(body.markers ?? []);
  showCoverage(body.coverage);
}

// ---------------------------------------------------------------------------------------------
// Talking to the server

function workspace() {
  const s = currentState();
  return { files: s.files, input: s.input, data: s.data };
}

async function call(path, payload) {
  const started = performance.now();
  let response;
  try {
    response = await fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(payload),
    });
  } catch (e) {
    return { failure: { code: 'network', message: `The playground server could not be reached (${e.message}). Check that it is still running, then try again.`, markers: [] }, elapsed: performance.now() - started };
  }
  const elapsed = performance.now() - started;
  let body;
  try {
    body = await response.json();
  } catch {
    return { failure: { code: 'internal', message: `The server answered ${response.status} without a readable body.`, markers: [] }, elapsed };
  }
  if (!response.ok) return { failure: body.error ?? { code: 'internal', message: `HTTP ${response.status}`, markers: [] }, elapsed };
  return { body, elapsed };
}

async function run(kind) {
  if (app.busy) return;
  app.busy = true;
  document.body.classList.add('busy');
  $('evaluate').disabled = true;
  $('test').disabled = true;
  clearFeedback();
  const payload = kind === 'test'
    ? workspace()
    : { ...workspace(), mode: app.mode, query: $('query').value, kind: app.mode === 'decision' ? $('kind').value : null };
  try {
    const { body, failure, elapsed } = await call(kind === 'test' ? 'api/test' : 'api/evaluate', payload);
    app.lastResult = failure ? { kind: 'failure', body: { error: failure } } : { kind, body };
    render();
    showTiming(body?.timing, elapsed);
  } catch (e) {
    showMessage(`The answer could not be shown (${e.message}); please report this.`);
  }
  app.busy = false;
  document.body.dataset.runs = String(Number(document.body.dataset.runs ?? 0) + 1);
  document.body.classList.remove('busy');
  $('evaluate').disabled = false;
  $('test').disabled = false;
}

function evaluate() {
  run('evaluate');
}

// ---------------------------------------------------------------------------------------------
// Examples, sharing, theme, resizing

function renderExamples() {
  const menu = $('examples-menu');
  menu.replaceChildren();
  let group = null;
  for (const ex of app.examples) {
    if (ex.group !== group) {
      group = ex.group;
      menu.append(el('div', 'menu-group', group));
    }
    const item = el('button', 'menu-item');
    item.setAttribute('role', 'menuitem');
    item.dataset.example = ex.id;
    item.append(el('span', 'menu-title', ex.title), el('span', 'menu-desc', ex.description));
    item.addEventListener('click', () => {
      toggleMenu(false);
      openExample(ex.id);
    });
    menu.append(item);
  }
}

function toggleMenu(open) {
  const menu = $('examples-menu');
  const show = open ?? menu.hidden;
  menu.hidden = !show;
  $('examples-button').setAttribute('aria-expanded', String(show));
}

function openExample(id) {
  const ex = app.examples.find((e) => e.id === id) ?? app.examples[0];
  if (!ex) return;
  loadState({ v: 1, ...ex, active: 0 });
  history.replaceState(null, '', `#example=${encodeURIComponent(ex.id)}`);
  document.body.classList.remove('dirty');
}

async function share() {
  const encoded = await encodeState(currentState());
  const url = `${location.origin}${location.pathname}#s=${encoded}`;
  history.replaceState(null, '', `#s=${encoded}`);
  const field = $('share-url');
  field.value = url;
  let copied = false;
  try {
    await navigator.clipboard.writeText(url);
    copied = true;
  } catch {
    // Clipboard access needs a secure context or permission; the link is shown to copy by hand.
  }
  $('share-note').textContent = `${copied ? 'Copied to the clipboard. ' : ''}The link (${url.length} characters) holds every file, the input, the data and the query, compressed; nothing is stored on a server.`;
  $('share-dialog').showModal();
  field.select();
}

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  try { localStorage.setItem('gatehouse-playground-theme', theme); } catch { /* private mode */ }
}

function initTheme() {
  let theme = null;
  try { theme = localStorage.getItem('gatehouse-playground-theme'); } catch { /* private mode */ }
  if (!theme) theme = matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
  applyTheme(theme);
}

function initResizing() {
  const root = document.documentElement;
  for (const g of document.querySelectorAll('[data-resize]')) {
    g.addEventListener('pointerdown', (down) => {
      down.preventDefault();
      g.setPointerCapture(down.pointerId);
      const which = g.dataset.resize;
      const layout = $('layout').getBoundingClientRect();
      const docs = $('documents-pane').getBoundingClientRect();
      const move = (e) => {
        if (which === 'col1') {
          const w = Math.max(200, Math.min(e.clientX - layout.left, layout.width - 420));
          root.style.setProperty('--col1', `${w}px`);
        } else if (which === 'col2') {
          const start = $('documents-pane').getBoundingClientRect().left;
          const w = Math.max(180, Math.min(e.clientX - start, layout.right - start - 220));
          root.style.setProperty('--col2', `${w}px`);
        } else {
          const h = Math.max(80, Math.min(e.clientY - docs.top - 28, docs.height - 120));
          root.style.setProperty('--row1', `${h}px`);
        }
      };
      const up = () => {
        g.removeEventListener('pointermove', move);
        g.removeEventListener('pointerup', up);
      };
      g.addEventListener('pointermove', move);
      g.addEventListener('pointerup', up);
    });
  }
}

async function fetchJson(path) {
  const r = await fetch(path);
  if (!r.ok) throw new Error(`${path} answered ${r.status}`);
  return r.json();
}

async function openFromHash() {
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.has('s')) {
    try {
      loadState(await decodeState(hash.get('s')));
    } catch (e) {
      openExample('first-policy');
      showMessage(e.message);
    }
  } else {
    openExample(hash.get('example') ?? 'first-policy');
  }
}

async function start() {
  initTheme();
  policyView = new EditorView({ state: regoState(''), parent: $('policy-editor') });
  inputView = new EditorView({ state: jsonState(''), parent: $('input-editor') });
  dataView = new EditorView({ state: jsonState(''), parent: $('data-editor') });

  $('evaluate').addEventListener('click', evaluate);
  $('test').addEventListener('click', () => run('test'));
  $('share').addEventListener('click', share);
  $('theme').addEventListener('click', () => applyTheme(document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark'));
  $('add-file').addEventListener('click', addFile);
  $('rename-file').addEventListener('click', () => renameFile(app.active));
  $('delete-file').addEventListener('click', deleteFile);
  $('file-v0').addEventListener('change', (e) => {
    app.files[app.active].v0 = e.target.checked;
    renderTabs();
  });
  $('coverage').addEventListener('change', () => showCoverage(app.lastResult?.body?.coverage));
  for (const b of document.querySelectorAll('[data-mode]')) b.addEventListener('click', () => setMode(b.dataset.mode));
  $('examples-button').addEventListener('click', (e) => { e.stopPropagation(); toggleMenu(); });
  document.addEventListener('click', (e) => { if (!$('examples-menu').contains(e.target)) toggleMenu(false); });
  document.addEventListener('keydown', (e) => {
    // Editors and the query box handle their own Ctrl+Enter (and mark it handled).
    if ((e.ctrlKey || e.metaKey) && e.key === 'Enter' && !e.defaultPrevented) { e.preventDefault(); evaluate(); }
    if (e.key === 'Escape') toggleMenu(false);
  });
  $('query').addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); evaluate(); } });
  initResizing();

  try {
    const [config, examples] = await Promise.all([fetchJson('api/config'), fetchJson('api/examples')]);
    app.kinds = config.kinds;
    app.limits = config.limits;
    app.examples = examples.examples;
  } catch (e) {
    showMessage(`The playground could not load its configuration (${e.message}). Reload the page; if it persists, check the server's log.`);
    return;
  }
  $('kind').replaceChildren(...app.kinds.map((k) => { const o = el('option', null, k); o.value = k; return o; }));
  renderExamples();

  await openFromHash();
  document.body.classList.remove('dirty');
  // A share link or example pasted into the address bar of an open playground.
  window.addEventListener('hashchange', () => openFromHash());
  document.body.dataset.ready = 'true';
}

start();
