/** What the benches read about their child processes: /proc for CPU, /metrics for counters. */
import { readFileSync } from 'node:fs';

const CLOCK_TICKS_PER_S = 100;

/** /proc/<pid>/stat after "pid (comm) ": state is [0], ppid [1], utime [11], stime [12]. */
export function statFields(pid: number | string): string[] {
  const line = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return line.slice(line.lastIndexOf(') ') + 2).split(' ');
}

/** CPU time (user + system) a process has used so far, in ms. */
export function cpuMs(pid: number): number {
  const fields = statFields(pid);
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_S;
}

/** Sums every sample of one metric in Prometheus text (all label sets). */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
