// ESLint rule: the tree's boundaries (README "Layout", docs/design.md "The tree").
// A module is `shared/<name>` or `services/<name>`; anything else (test/,
// bench/, infra/) only consumes modules. Every relative import, export-from
// and dynamic import() is resolved to the file it names, then:
//   - shared/ never imports services/ (the library does not know its processes);
//   - services/a never imports services/b (processes share code only through shared/);
//   - from outside a module, only its index.ts is imported (no deep imports),
//     relative paths included; the module's own files import each other freely.
import path from 'node:path';

const moduleOf = (root, file) => {
  const parts = path.relative(root, file).split(path.sep);
  if ((parts[0] === 'shared' || parts[0] === 'services') && parts.length > 2) return `${parts[0]}/${parts[1]}`;
  return undefined;
};

export const moduleBoundaries = {
  meta: {
    type: 'problem',
    docs: { description: 'keep shared/ and services/ modules behind their index.ts, and services apart from each other' },
    schema: [{ type: 'object', properties: { root: { type: 'string' } }, additionalProperties: false }],
    messages: {
      sharedToServices: 'shared/ must not import services/ ({{target}}): move what both need into shared/',
      serviceToService: '{{from}} must not import {{to}}: processes share code only through shared/',
      deepImport: 'import {{to}} through its index.ts, not {{target}}',
    },
  },
  create(context) {
    const root = context.options[0]?.root ?? context.cwd;
    const file = context.filename;
    const from = moduleOf(root, file);
    const fromTop = path.relative(root, file).split(path.sep)[0];
    const check = (node, specifier) => {
      if (typeof specifier !== 'string' || !specifier.startsWith('.')) return;
      const target = path.resolve(path.dirname(file), specifier);
      const relTarget = path.relative(root, target);
      const to = moduleOf(root, target);
      if (!to || to === from) return;
      if (fromTop === 'shared' && to.startsWith('services/')) {
        context.report({ node, messageId: 'sharedToServices', data: { target: relTarget } });
        return;
      }
      if (from?.startsWith('services/') && to.startsWith('services/')) {
        context.report({ node, messageId: 'serviceToService', data: { from, to } });
        return;
      }
      if (path.basename(target) !== 'index.ts' || path.dirname(relTarget) !== to) {
        context.report({ node, messageId: 'deepImport', data: { to, target: relTarget } });
      }
    };
    return {
      ImportDeclaration: (node) => check(node.source, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node.source, node.source.value),
      ExportAllDeclaration: (node) => check(node.source, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node.source, node.source.value),
    };
  },
};

export default { rules: { 'module-boundaries': moduleBoundaries } };
