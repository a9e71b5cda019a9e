// Runs every test file in a process of its own, two at a time, and never
// loses a crash.
//
//   deno run -A tests/run_all.ts [--jobs N] [FILE ...]
//     (default: every tests/*_test.ts, as many at once as the machine has
//     cores, at most 2; each file's output is printed whole when it ends)
//
// Why one process per file: a test module's isolate that ends while native
// work it started is still running crashes the process. Deno frees sharp's
// N-API function records when the isolate shuts down, and a decode chain
// still running calls through one: SIGSEGV in CallbackData::Wrapper (issue
// 12; our code now awaits every decode it starts, see pipeline/settle_all.ts).
// A process per file keeps such a crash, should a new one appear, to the file
// that caused it.
//
// Each process gets a scratch directory as its TMPDIR (Deno.makeTempDir,
// Python's tempfile and torchrun all honour it): removed when the file passes,
// kept and named when it fails, so that a run leaves nothing behind but what
// explains a failure.
//
// A process that dies without its summary is reported with the file, the test
// that was running, its exit code or signal, and its last lines of output; it
// fails the run. Ends with "N passed, N failed" (a crashed file counts as one
// failure).
import { basename } from "node:path";
import { mapPool } from "../pipeline/settle_all.ts";

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
  /** The file's TMPDIR, kept because it failed. */
  scratch?: string;
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
  const scratch = await Deno.makeTempDir({ prefix: `discogan_${basename(file, ".ts")}_` });
  const result = await runInScratch(file, scratch);
  if (result.failed) result.scratch = scratch;
  else {
    // A process the file started may still hold it; that is no test's failure.
    await Deno.remove(scratch, { recursive: true }).catch((e) =>
      console.log(`could not remove ${scratch}: ${(e as Error).message}`)
    );
  }
  return result;
}

async function runInScratch(file: string, scratch: string): Promise<FileResult> {
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", "--no-check", file],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", TMPDIR: scratch },
  }).spawn();
  const lines: string[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? "";
      lines.push(...parts);
    }
    if (rest) lines.push(rest);
  };
  const [status] = await Promise.all([child.status, pump(child.stdout), pump(child.stderr)]);
  const seconds = (performance.now() - started) / 1000;
  // Whole, so that files running side by side do not interleave their lines.
  console.log(`\n=== ${file} (${seconds.toFixed(0)} s) ===\n${lines.join("\n")}`);
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
  };
}

function lastLines(lines: string[]): string {
  const tail = lines.slice(-TAIL_LINES).map((l) => `  | ${l}`).join("\n");
  return `its last ${Math.min(TAIL_LINES, lines.length)} lines of output:\n${tail}`;
}

/** Runs `files` with at most `jobs` processes at once; results in the files' order. */
function runFiles(files: string[], jobs: number): Promise<FileResult[]> {
  return mapPool(files, jobs, runFile);
}

if (import.meta.main) {
  const args = [...Deno.args];
  let jobs = Math.min(2, navigator.hardwareConcurrency || 1);
  const flag = args.indexOf("--jobs");
  if (flag >= 0) {
    jobs = Number(args[flag + 1]);
    if (!Number.isInteger(jobs) || jobs < 1) {
      console.log(`--jobs takes a whole number of processes, at least 1; got "${args[flag + 1]}"`);
      Deno.exit(2);
    }
    args.splice(flag, 2);
  }
  const files = args.length ? args : await testFiles();
  // One type check for all, so that each process can skip its own.
  const check = await new Deno.Command(Deno.execPath(), {
    args: ["check", ...files],
    cwd: root,
  }).output();
  if (!check.success) {
    console.log("type check failed\n0 passed, 1 failed");
    Deno.exit(1);
  }
  const results = await runFiles(files, jobs);
  console.log("\nper file:");
  for (const r of results) {
    const mark = r.crash ? "CRASH" : r.failed ? "FAIL" : "ok";
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
  for (const r of results.filter((r) => r.crash)) console.log(`\nCRASH: ${r.crash}`);
  for (const r of results.filter((r) => r.scratch)) {
    console.log(`\n${r.file} failed: its temporary files are kept in ${r.scratch}`);
  }
  const passed = results.reduce((s, r) => s + r.passed, 0);
  const failed = results.reduce((s, r) => s + r.failed, 0);
  console.log(`\n${passed} passed, ${failed} failed`);
  Deno.exit(failed ? 1 : 0);
}
