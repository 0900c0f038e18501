// The injected logger. Library code receives a Logger; only src/cli.ts decides where lines go.

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

const noop = (): void => {};

/** Longest text of hostile origin (a Node annotation, a reason quoting one) a log line carries. */
export const MAX_LOGGED_TEXT = 200;

/**
 * `text` cut to at most `max` characters (ending in "…(N more)" when cut), so a 250 KB annotation is not copied
 * into a log line. Use it for every reason or value that can come from outside.
 */
export function clip(text: string, max = MAX_LOGGED_TEXT): string {
  if (text.length <= max) return text;
  for (let keep = max - 10; keep > 0; keep--) {
    const out = `${text.slice(0, keep)}…(${text.length - keep} more)`;
    if (out.length <= max) return out;
  }
  return text.slice(0, max);
}
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };

/** Formats a log line: `level msg key=value …` (values JSON-encoded when not plain words). */
export function formatLine(level: string, msg: string, fields?: Record<string, unknown>): string {
  let line = `${level} ${msg}`;
  for (const [k, v] of Object.entries(fields ?? {})) {
    const s = typeof v === 'string' && /^[\w.:/@-]*$/.test(v) ? v : JSON.stringify(v);
    line += ` ${k}=${s}`;
  }
  return line;
}

/** A logger that hands formatted lines to `sink`, dropping debug lines unless `debug` is set. */
export function lineLogger(sink: (line: string) => void, debug = false): Logger {
  return {
    debug: (m, f) => {
      if (debug) sink(formatLine('debug', m, f));
    },
    info: (m, f) => sink(formatLine('info', m, f)),
    warn: (m, f) => sink(formatLine('warn', m, f)),
    error: (m, f) => sink(formatLine('error', m, f)),
  };
}
