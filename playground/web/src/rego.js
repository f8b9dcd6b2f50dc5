// Rego for CodeMirror 6: a stream tokenizer for highlighting (keywords, strings, raw strings
// across lines, numbers, comments, operators, `input`/`data`, built-in calls) and the
// language's comment syntax for Ctrl+/.
import { StreamLanguage } from '@codemirror/language';

const keywords = new Set([
  'package', 'import', 'as', 'default', 'else', 'not', 'some', 'every', 'in', 'with', 'if',
  'contains',
]);
const atoms = new Set(['true', 'false', 'null']);
const roots = new Set(['input', 'data', 'future', 'rego']);

const rego = {
  name: 'rego',
  startState: () => ({ rawString: false }),
  token(stream, state) {
    if (state.rawString) {
      if (stream.skipTo('`')) {
        stream.next();
        state.rawString = false;
      } else {
        stream.skipToEnd();
      }
      return 'string';
    }
    if (stream.eatSpace()) return null;
    const ch = stream.peek();
    if (ch === '#') {
      stream.skipToEnd();
      return 'comment';
    }
    if (ch === '"') {
      stream.next();
      let escaped = false;
      let c;
      while ((c = stream.next()) != null) {
        if (c === '"' && !escaped) break;
        escaped = !escaped && c === '\\';
      }
      return 'string';
    }
    if (ch === '`') {
      stream.next();
      if (stream.skipTo('`')) stream.next();
      else {
        stream.skipToEnd();
        state.rawString = true;
      }
      return 'string';
    }
    if (stream.match(/^-?\d+(\.\d+)?([eE][+-]?\d+)?/)) return 'number';
    if (stream.match(/^(:=|==|!=|<=|>=|[=<>|&+\-*/%])/)) return 'operator';
    if (stream.match(/^[A-Za-z_][A-Za-z0-9_]*/)) {
      const word = stream.current();
      if (keywords.has(word)) return 'keyword';
      if (atoms.has(word)) return 'atom';
      if (roots.has(word)) return 'variableName.special';
      // A call: `count(`, `strings.replace_n(` (the namespace is highlighted with it).
      if (stream.match(/^(\.[A-Za-z_][A-Za-z0-9_]*)*(?=\()/, true)) return 'variableName.function';
      return 'variableName';
    }
    if (stream.match(/^[[\]{}()]/)) return 'bracket';
    if (stream.match(/^[.,;:]/)) return 'punctuation';
    stream.next();
    return null;
  },
  languageData: { commentTokens: { line: '#' } },
};

export const regoLanguage = StreamLanguage.define(rego);
