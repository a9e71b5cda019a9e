// Runs every test file in a process of its own, and never loses a crash.
//
//   deno run -A tests/run_all.ts [FILE ...]   (default: every tests/*_test.ts)
//
// Why one process per file: `deno test` runs each test module in its own
// worker isolate of one process, and sharp's native module, loaded by several
// isolates in turn, has crashed that process at a module boundary (a call
// through a freed N-API callback: SIGSEGV in sharp's CallbackData::Wrapper,
// seen in 2 of 8 runs of bad_input_test.ts followed by batch_source_test.ts).
// Each file alone has one isolate for its lifetime. That made it rarer, not
// gone: bad_input_test.ts alone has died the same way after its last test,
// while its test worker shut down (issue 12 tracks the cause). A file that
// dies so, after every test passed, is run once more and the crash reported.
//
// A process that dies without its summary is reported with the file, the test
// that was running, its exit code or signal, and its last lines of output.
// Ends with "N passed, N failed" (a crashed file counts as one failure).
import { basename } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const TAIL_LINES = 40;

interface FileResult {
  file: string;
  passed: number;
  /** Tests ignored (a library they need is missing: tests/native.ts). */
  ignored?: number;
  /** The files' "ignored: ... needs ..." lines. */
  notes?: string[];
  failed: number;
  seconds: number;
  crash?: string;
  /** The crash came after every test that ran had passed (no test was running). */
  afterAllPassed?: boolean;
  /** Set when the process died after every test had passed, and a rerun passed. */
  crashedOnce?: string;
}

async function testFiles(): Promise<string[]> {
  const files: string[] = [];
  for await (const e of Deno.readDir(`${root}tests`)) {
    if (e.isFile && e.name.endsWith("_test.ts")) files.push(`tests/${e.name}`);
  }
  return files.sort();
}

// The test whose name was printed last without its result: "name ..." alone.
function runningTest(lines: string[]): string | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /^(.+?) \.\.\.( (ok|FAILED|ignored)\b.*)?$/.exec(lines[i]);
    if (m) return m[2] ? undefined : m[1];
  }
}

async function runFile(file: string): Promise<FileResult> {
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", "--no-check", file],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const lines: string[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? "";
      for (const line of parts) {
        lines.push(line);
        console.log(line);
      }
    }
    if (rest) {
      lines.push(rest);
      console.log(rest);
    }
  };
  const [status] = await Promise.all([child.status, pump(child.stdout), pump(child.stderr)]);
  const seconds = (performance.now() - started) / 1000;
  const summary = lines.map((l) => /^(ok|FAILED) \| (\d+) passed.*\| (\d+) failed.*$/.exec(l))
    .filter((m) => m).at(-1);
  const notes = [...new Set(lines.filter((l) => l.startsWith("ignored: ")))];
  if (summary) {
    const ignored = Number(/(\d+) ignored/.exec(summary[0])?.[1] ?? 0);
    return {
      file,
      passed: Number(summary[2]),
      failed: Number(summary[3]),
      ignored,
      notes,
      seconds,
    };
  }
  const how = status.signal ? `signal ${status.signal}` : `exit code ${status.code}`;
  const test = runningTest(lines);
  const crash = `${file} died with ${how}` +
    (test ? ` while running "${test}"` : " between tests (no test was running)");
  // The tests that finished before the crash still count.
  const passed = lines.filter((l) => / \.\.\. ok\b/.test(l)).length;
  return {
    file,
    passed,
    failed: 1,
    seconds,
    crash: crash + "\n" + lastLines(lines),
    afterAllPassed: !test && passed > 0 && !lines.some((l) => / \.\.\. FAILED\b/.test(l)),
  };
}

// A process that died after all its tests had passed (while its test worker
// shut down: sharp's native module, issue 12) is run once more. The crash is
// still reported; the file fails if it crashes again or a test fails.
async function runFileRetrying(file: string): Promise<FileResult> {
  const first = await runFile(file);
  if (!first.crash || !first.afterAllPassed) return first;
  console.log(`\n${file} died after all its tests passed; running it once more\n`);
  const second = await runFile(file);
  if (second.crash || second.failed) return { ...second, crash: second.crash ?? first.crash };
  return { ...second, crashedOnce: first.crash, seconds: first.seconds + second.seconds };
}

function lastLines(lines: string[]): string {
  const tail = lines.slice(-TAIL_LINES).map((l) => `  | ${l}`).join("\n");
  return `its last ${Math.min(TAIL_LINES, lines.length)} lines of output:\n${tail}`;
}

if (import.meta.main) {
  const files = Deno.args.length ? Deno.args : await testFiles();
  // One type check for all, so that each process can skip its own.
  const check = await new Deno.Command(Deno.execPath(), {
    args: ["check", ...files],
    cwd: root,
  }).output();
  if (!check.success) {
    console.log("type check failed\n0 passed, 1 failed");
    Deno.exit(1);
  }
  const results: FileResult[] = [];
  for (const file of files) results.push(await runFileRetrying(file));
  console.log("\nper file:");
  for (const r of results) {
    const mark = r.crash ? "CRASH" : r.failed ? "FAIL" : r.crashedOnce ? "ok*" : "ok";
    console.log(
      `  ${mark.padEnd(5)} ${basename(r.file).padEnd(34)} ${String(r.passed).padStart(4)} passed ` +
        `${String(r.failed).padStart(3)} failed  ${r.seconds.toFixed(0).padStart(4)} s`,
    );
  }
  const ignored = results.reduce((s, r) => s + (r.ignored ?? 0), 0);
  if (ignored) {
    console.log(`\n${ignored} tests ignored for want of a system library:`);
    for (const note of new Set(results.flatMap((r) => r.notes ?? []))) console.log(`  ${note}`);
  }
  for (const r of results.filter((r) => r.crashedOnce)) {
    console.log(`\nCRASHED, THEN PASSED ON A RERUN: ${r.crashedOnce}`);
  }
  for (const r of results.filter((r) => r.crash)) console.log(`\nCRASH: ${r.crash}`);
  const passed = results.reduce((s, r) => s + r.passed, 0);
  const failed = results.reduce((s, r) => s + r.failed, 0);
  console.log(`\n${passed} passed, ${failed} failed`);
  Deno.exit(failed ? 1 : 0);
}
