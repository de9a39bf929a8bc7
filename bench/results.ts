/**
 * Every benchmark records its figures the same way: a section appended to bench/RESULTS.md that
 * says which commit, which machine and which command produced them, so a figure quoted anywhere
 * can be traced back and reproduced.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { isAbsolute, join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
// Empty counts as unset, so clearing the variable brings back the usual file.
export const RESULTS_FILE = process.env.FAASMETER_BENCH_RESULTS || join(import.meta.dirname, 'RESULTS.md');

const HEADER = `# Benchmark results

Appended by \`npm run bench\` (bench/run-all.ts) and by each bench script run alone. Every section
names the commit, the machine and the command that produced it; newest last.
`;

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

/**
 * The commit under test, marked when the work tree differs from it. The results file itself is
 * left out: each bench of a run appends to it, so every bench after the first saw it changed.
 */
export function commitLabel(): string {
  const commit = git(['rev-parse', '--short=12', 'HEAD']) || 'unknown';
  const results = relative(root, RESULTS_FILE);
  const inTree = !results.startsWith('..') && !isAbsolute(results);
  const changed = git(['status', '--porcelain', '--untracked-files=no', ...(inTree ? ['--', '.', `:(exclude)${results}`] : [])]);
  return changed ? `${commit} (with uncommitted changes)` : commit;
}

export function machineLabel(): string {
  const cores = cpus();
  const model = cores[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown CPU';
  return `${cores.length} cores (${model}), ${(totalmem() / 1024 ** 3).toFixed(0)} GiB, Node ${process.version}, load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`;
}

/** The command a reader runs to reproduce these figures, as this process was started. */
export function commandLabel(): string {
  const script = process.argv[1] ? process.argv[1].replace(`${join(import.meta.dirname, '..')}/`, '') : 'node';
  return ['npx node', script, ...process.argv.slice(2)].join(' ');
}

export interface BenchSection {
  title: string;
  /** Markdown body: tables and one-line explanations of what each figure means. */
  body: string;
  command?: string;
}

export function recordResults(section: BenchSection): void {
  if (!existsSync(RESULTS_FILE)) writeFileSync(RESULTS_FILE, HEADER);
  const when = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const run = process.env.FAASMETER_BENCH_RUN ? `, run ${process.env.FAASMETER_BENCH_RUN}` : '';
  appendFileSync(
    RESULTS_FILE,
    `\n## ${section.title}\n\n${when}${run} · commit ${commitLabel()} · ${machineLabel()}\n\n\`${section.command ?? commandLabel()}\`\n\n${section.body.trim()}\n`,
  );
}
