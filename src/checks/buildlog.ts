// Findings in a build log, each with the few lines a maintainer needs to see why. The log is
// what a container printed: gcc/clang diagnostics, GNU ld / ld.lld errors, Kconfig complaints,
// make's own errors and the line Xen's tools/symbols prints when --error-dup fails the build.
//
// A series controls what its build prints, so a line can be megabytes long. Lines are cut
// (MAX_LINE) before any pattern reads them, and no pattern makes more than a pass or two over
// a line whatever it holds: each is anchored at the line's start or begins with a literal
// phrase, and a trailing `(.+)$` runs in dotAll mode, where it cannot fail and so never
// retries from an earlier split.
import type { BuildError } from '../contract.ts';

export type LogFinding = Omit<BuildError, 'status'>;

// CSI colour codes, plus OSC 8 hyperlinks gcc wraps around option names (-fdiagnostics-urls).
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)/g;

export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

/**
 * Lines are matched and quoted up to this many characters. A diagnostic's file, line and
 * first words come first on its line; past this is an expanded macro or a tail of noise.
 */
export const MAX_LINE = 4096;
const CUT_MARK = ' [... cut]';

type Rule = (line: string) => Omit<LogFinding, 'excerpt'> | null;

const XEN_DUPLICATE = /^Duplicate symbol '([^']*)' \(([0-9a-fA-F]+) != ([0-9a-fA-F]+)\)/;

/** `Duplicate symbol 'hvm.c#cpu_callback' (ffff82d040221afe != ffff82d04022149e)` from tools/symbols. */
const xenDuplicate: Rule = (line) => {
  const m = XEN_DUPLICATE.exec(line.trim());
  return m ? { kind: 'duplicate-check', file: null, line: null, message: m[0] } : null;
};

/** The key a `duplicate-check` finding names ('hvm.c#cpu_callback'), or null for any other finding. */
export function xenDuplicateKey(e: Pick<LogFinding, 'kind' | 'message'>): string | null {
  return e.kind === 'duplicate-check' ? (XEN_DUPLICATE.exec(e.message)?.[1] ?? null) : null;
}

/** `arch/x86/Kconfig:12: syntax error`, `.config:45:warning: symbol value 'x' invalid for FOO`. */
const kconfig: Rule = (line) => {
  const at = /^([^\s:]+):(\d+):/.exec(line);
  if (at && (at[1]!.includes('Kconfig') || at[1]!.endsWith('.config'))) {
    const message = line
      .slice(at[0].length)
      .trim()
      .replace(/^(?:warning|error):/, '')
      .trim();
    if (message) return { kind: 'kconfig', file: at[1]!, line: Number(at[2]), message };
  }
  const text = line.trim();
  const known =
    /^WARNING: unmet direct dependencies detected for \S/.test(text) ||
    /^\*\*\* Error during (?:writing|update) of the configuration/.test(text) ||
    unmetSelect(text);
  return known ? { kind: 'kconfig', file: null, line: null, message: text } : null;
};

/** `warning: A selects B which has unmet direct dependencies (C)`, read with indexOf, not `.*` twice. */
function unmetSelect(text: string): boolean {
  if (!text.startsWith('warning: ')) return false;
  const selects = text.indexOf(' selects ', 'warning: '.length);
  return (
    selects >= 0 && text.indexOf(' which has unmet direct dependencies', selects + ' selects '.length) >= 0
  );
}

/** gcc and clang: `file.c:12:5: error: message`, also without a column and `fatal error:`. */
const compiler: Rule = (line) => {
  const m = /^([^\s:][^:]*):(\d+):(?:(\d+):)?\s+(fatal error|error|warning):\s+(.+)$/s.exec(line);
  if (!m) return null;
  return {
    kind: m[4] === 'warning' ? 'compiler-warning' : 'compiler-error',
    file: m[1]!,
    line: Number(m[2]),
    message: m[5]!.trim(),
  };
};

/** GNU ld (`x.c:(.text+0x5): undefined reference to `f'`) and ld.lld (`ld.lld: error: undefined symbol: f`). */
const linker: Rule = (line) => {
  // Only the phrase is searched for; the message is the rest of the line from there.
  const what =
    /undefined reference to |multiple definition of |undefined symbol: |duplicate symbol: |cannot find -?\S|relocation truncated to fit: /.exec(
      line,
    );
  if (!what) return null;
  const at = /^(?:\S*ld(?:\.\w+)?: )?(?:error: )?([^\s:()][^:()]*):(?:(\d+)|\([^)]*\)):\s/.exec(line);
  const file = at && !/\bld(\.\w+)?$/.test(at[1]!) ? at[1]! : null;
  // GNU ld appends "; other.o:(.data+0x0): first defined here": the excerpt keeps it.
  const message = line
    .slice(what.index)
    .replace(/; \S+: first defined here$/, '')
    .trim();
  return { kind: 'linker', file, line: at?.[2] ? Number(at[2]) : null, message };
};

/** `make[2]: *** [Rules.mk:210: arch/x86/foo.o] Error 1`, `make: *** No rule to make target 'x'.  Stop.` */
const make: Rule = (line) => {
  const m = /^\s*(g?make)(?:\[\d+\])?: \*\*\* (.+)$/s.exec(line);
  // "Waiting for unfinished jobs...." is make -j reporting an error already reported.
  if (!m || m[2]!.startsWith('Waiting for unfinished jobs')) return null;
  return { kind: 'make', file: null, line: null, message: m[2]!.trim() };
};

const RULES: Rule[] = [xenDuplicate, kconfig, compiler, linker, make];

/** Lines that belong to the diagnostic above them: gcc's source quote and caret, notes, ld's >>> lines. */
function isContinuation(line: string): boolean {
  return (
    /^\s+\S|^\s*\d+\s*\||^\s*\|/.test(line) ||
    /^[^\s:][^:]*:\d+:(\d+:)?\s+note:/.test(line) ||
    /^>>> /.test(line)
  );
}

/** Lines that set the scene for the diagnostic below them. */
function isLeadIn(line: string): boolean {
  return /In function|In file included from|^\s+from |: in function [`'‘]|^\S+: At top level:/.test(line);
}

const MAX_AFTER = 5;
const MAX_BEFORE = 2;

function excerptAt(lines: string[], i: number): string {
  let from = i;
  while (from > 0 && i - from < MAX_BEFORE && isLeadIn(lines[from - 1]!)) from--;
  let to = i;
  while (to + 1 < lines.length && to - i < MAX_AFTER && isContinuation(lines[to + 1]!)) to++;
  return lines
    .slice(from, to + 1)
    .map((l) => l.trimEnd())
    .join('\n');
}

/**
 * Findings in log order. Make's `*** [...] Error N` lines repeat once per enclosing make, so
 * only the first is kept: it names the innermost failing target. `collect2: error: ld
 * returned 1 exit status` and `cc1: all warnings being treated as errors` add nothing and are
 * not findings.
 */
export function parseBuildLog(logText: string): LogFinding[] {
  const lines = logText
    .split(/\r\n?|\n/)
    .map((l) => (l.length > MAX_LINE ? stripAnsi(l.slice(0, MAX_LINE)) + CUT_MARK : stripAnsi(l)));
  const out: LogFinding[] = [];
  let makeErrorSeen = false;
  lines.forEach((line, i) => {
    for (const rule of RULES) {
      const hit = rule(line);
      if (!hit) continue;
      if (hit.kind === 'make' && /\] Error \d+/.test(hit.message)) {
        if (makeErrorSeen) return;
        makeErrorSeen = true;
      }
      out.push({ ...hit, excerpt: excerptAt(lines, i) });
      return;
    }
  });
  // make's own "*** [...] Error 1" only says that something above failed: it is a finding of
  // its own only when nothing more precise explains the failure.
  const explained = out.some((f) => f.kind !== 'make' && f.kind !== 'compiler-warning');
  return explained ? out.filter((f) => f.kind !== 'make') : out;
}
