// A small well-formedness check for the bench reports (test/unit/bench-report.test.ts): every tag closed in order,
// attribute values quoted, entity references known, nothing after the root. With `html`, HTML's void elements
// (meta, br…) need no closing tag and a doctype may lead. Returns the problems found (none: well-formed) and the
// elements seen, each with its attributes.

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  /** The names of the open elements around it, outermost first. */
  path: string[];
}

const VOID = new Set(['meta', 'br', 'hr', 'img', 'input', 'link', 'col', 'wbr', 'area', 'base', 'source']);
const ENTITY = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/y;

function checkText(text: string, at: number, problems: string[]): void {
  for (let i = text.indexOf('&'); i >= 0; i = text.indexOf('&', i + 1)) {
    ENTITY.lastIndex = i;
    if (!ENTITY.test(text)) problems.push(`bad entity at ${at + i}: ${text.slice(i, i + 12)}`);
  }
  if (text.includes('<')) problems.push(`stray < at ${at}`);
}

export function checkXml(doc: string, opts: { html?: boolean } = {}): { problems: string[]; elements: XmlElement[] } {
  const problems: string[] = [];
  const elements: XmlElement[] = [];
  const stack: string[] = [];
  let rootClosed = false;
  let i = 0;
  while (i < doc.length) {
    const lt = doc.indexOf('<', i);
    const text = doc.slice(i, lt < 0 ? doc.length : lt);
    checkText(text, i, problems);
    if (text.trim() && stack.length === 0) problems.push(`text outside the root at ${i}`);
    if (lt < 0) break;
    if (doc.startsWith('<?', lt) || doc.startsWith('<!--', lt) || /^<!doctype/i.test(doc.slice(lt, lt + 9))) {
      const end = doc.indexOf(doc.startsWith('<!--', lt) ? '-->' : '>', lt);
      if (end < 0) {
        problems.push(`unterminated declaration at ${lt}`);
        break;
      }
      i = end + 1;
      continue;
    }
    const gt = doc.indexOf('>', lt);
    if (gt < 0) {
      problems.push(`unterminated tag at ${lt}`);
      break;
    }
    const tag = doc.slice(lt + 1, gt);
    i = gt + 1;
    if (tag.startsWith('/')) {
      const name = tag.slice(1).trim();
      const open = stack.pop();
      if (open !== name) problems.push(`</${name}> closes <${open ?? 'nothing'}> at ${lt}`);
      if (stack.length === 0) rootClosed = true;
      continue;
    }
    const m = /^([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)$/.exec(tag);
    if (!m) {
      problems.push(`malformed tag at ${lt}: <${tag.slice(0, 60)}>`);
      continue;
    }
    if (rootClosed) problems.push(`element after the root at ${lt}`);
    const name = m[1]!;
    const attrs: Record<string, string> = {};
    for (const a of m[2]!.matchAll(/([\w:.-]+)="([^"]*)"/g)) {
      if (a[1]! in attrs) problems.push(`attribute ${a[1]} twice on <${name}> at ${lt}`);
      attrs[a[1]!] = a[2]!;
      checkText(a[2]!, lt, problems);
    }
    elements.push({ name, attrs, path: [...stack] });
    if (m[3] === '/' || (opts.html && VOID.has(name.toLowerCase()))) continue;
    stack.push(name);
  }
  if (stack.length) problems.push(`unclosed: ${stack.join(' > ')}`);
  if (elements.length === 0) problems.push('no elements');
  return { problems, elements };
}
