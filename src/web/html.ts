// Every string that reaches the page went through escapeHtml unless it was built by the
// `html` template itself: subjects and author names are written by whoever posts to the
// list, so the safe path is the only short one.

export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/**
 * Markup characters become character references; control characters (an ESC from a
 * subject, say) are not valid in HTML at all, so they are shown as visible \xNN text,
 * the way the CLI shows them. Tabs and newlines stay: reply bodies and logs need them.
 */
export function escapeHtml(text: string): string {
  return text
    .replace(
      /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g,
      (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
    )
    .replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function render(v: unknown): string {
  if (v instanceof SafeHtml) return v.value;
  if (Array.isArray(v)) return v.map(render).join('');
  if (v === null || v === undefined || v === false) return '';
  return escapeHtml(String(v));
}

/** Tagged template: interpolated values are escaped, nested `html` fragments are not. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += render(v) + (strings[i + 1] ?? '');
  });
  return new SafeHtml(out);
}
