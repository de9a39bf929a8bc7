import { coldStarts } from './cold-starts.ts';
import { cost } from './cost.ts';
import { health } from './health.ts';
import type { Dashboard } from './model.ts';
import { overview } from './overview.ts';
import { rightsizing } from './rightsizing.ts';

/** Every dashboard we ship, in menu order; the file name is the uid without its prefix. */
export const DASHBOARDS: readonly Dashboard[] = [overview, coldStarts, cost, rightsizing, health];

export function fileNameOf(dashboard: Dashboard): string {
  return `${dashboard.uid.replace(/^faasmeter-/, '')}.json`;
}
