import ts from 'typescript';

/**
 * Reading source code as code, not as lines (issue #13): the checks over `src/` parse each file with the TypeScript
 * compiler, so a construct split over lines by the formatter, or spelt in a comment or a string, is judged by what
 * it is. Each check here is tested with planted sources in the tests that use it.
 */

export function parse(text: string, file = 'source.ts'): ts.SourceFile {
  return ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
}

/** Every node of a source file, depth first. */
export function nodes(source: ts.SourceFile): ts.Node[] {
  const found: ts.Node[] = [];
  const visit = (node: ts.Node): void => {
    found.push(node);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/**
 * The code as one line of tokens separated by single spaces, without comments, string literals in single quotes:
 * `(await persons.byId(\n  id,\n))?.status` reads `( await persons . byId ( id , ) ) ?. status`, however it is
 * laid out. For checks that look for a short phrase of code.
 */
export function tokenText(text: string): string {
  const source = parse(text);
  const tokens: string[] = [];
  const visit = (node: ts.Node): void => {
    if (node.kind >= ts.SyntaxKind.FirstJSDocNode && node.kind <= ts.SyntaxKind.LastJSDocNode) return;
    const children = node.getChildren(source);
    if (children.length === 0) {
      if (node.kind === ts.SyntaxKind.EndOfFileToken) return;
      tokens.push(ts.isStringLiteral(node) ? `'${node.text}'` : node.getText(source));
      return;
    }
    for (const child of children) visit(child);
  };
  visit(source);
  return tokens.join(' ');
}

/** The name an expression ends in: `interaction` for `interaction` and for `ctx.interaction`. */
export function lastName(expression: ts.Expression): string | undefined {
  if (ts.isIdentifier(expression)) return expression.text;
  if (ts.isPropertyAccessExpression(expression)) return expression.name.text;
  return undefined;
}

/** The line (1-based) of a node, for messages. */
export function lineOf(source: ts.SourceFile, node: ts.Node): number {
  return source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
}
