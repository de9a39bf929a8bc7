import type { QueryVariable } from './model.ts';
import { matchVar } from './macros.ts';
import { DAYS_IN_RANGE } from './sql.ts';

/**
 * Tenant → function → revision, each narrowed by the ones before it, read from the day rollup
 * (small) over the days of the time range.
 */
export const TENANT_FUNCTION_REVISION: QueryVariable[] = [
  {
    name: 'tenant',
    label: 'Tenant',
    query: `SELECT DISTINCT tenant FROM usage_day WHERE ${DAYS_IN_RANGE} ORDER BY tenant`,
  },
  {
    name: 'function',
    label: 'Function',
    query: `SELECT DISTINCT function FROM usage_day WHERE ${DAYS_IN_RANGE} AND ${matchVar('tenant', 'tenant')} ORDER BY function`,
  },
  {
    name: 'revision',
    label: 'Revision',
    query:
      `SELECT DISTINCT revision FROM usage_day WHERE ${DAYS_IN_RANGE} AND ${matchVar('tenant', 'tenant')}` +
      ` AND ${matchVar('function', 'function')} ORDER BY revision`,
  },
];
