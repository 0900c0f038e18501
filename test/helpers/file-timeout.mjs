// tap's per-file timeout policy, loaded into every test process (package.json "tap"."node-arg"). tap kills a test
// file that has not exited after "timeout" seconds (package.json: 60): a unit file that hangs — a handle left open
// after its last subtest — fails after a minute, not after five. Integration and native files (real namespaces,
// iperf3 transfers, captures, fuzz corpora) may take longer and get LONG_FILE_SECONDS: this file tells tap so, as a
// test calling t.setTimeout() at its top level would (tap 21: the child sends {setTimeout, key, child} over IPC, and
// its own root test takes TAP_TIMEOUT). Plain JavaScript: it runs before any TypeScript loader.
const LONG_FILE_SECONDS = 300;
const LONG_FILES = /[\\/]test[\\/](integration|native)[\\/]/;

const file = process.argv[1] ?? '';
if (LONG_FILES.test(file) && process.env.TAP_CHILD_KEY !== undefined) {
  process.env.TAP_TIMEOUT = String(LONG_FILE_SECONDS);
  process.send?.({
    setTimeout: LONG_FILE_SECONDS * 1000,
    key: process.env.TAP_CHILD_KEY,
    child: process.env.TAP_CHILD_ID,
  });
}
