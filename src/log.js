// The injected logger. Library code receives a Logger; only src/cli.ts decides where lines go.
const noop = () => { };
export const silentLogger = { debug: noop, info: noop, warn: noop, error: noop };
/** Formats a log line: `level msg key=value …` (values JSON-encoded when not plain words). */
export function formatLine(level, msg, fields) {
    let line = `${level} ${msg}`;
    for (const [k, v] of Object.entries(fields ?? {})) {
        const s = typeof v === 'string' && /^[\w.:/@-]*$/.test(v) ? v : JSON.stringify(v);
        line += ` ${k}=${s}`;
    }
    return line;
}
/** A logger that hands formatted lines to `sink`, dropping debug lines unless `debug` is set. */
export function lineLogger(sink, debug = false) {
    return {
        debug: (m, f) => {
            if (debug)
                sink(formatLine('debug', m, f));
        },
        info: (m, f) => sink(formatLine('info', m, f)),
        warn: (m, f) => sink(formatLine('warn', m, f)),
        error: (m, f) => sink(formatLine('error', m, f)),
    };
}
