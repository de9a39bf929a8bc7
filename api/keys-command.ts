import { parseArgs } from 'node:util';
import { createClickHouse } from '../clickhouse/client.ts';
import { clickhouseConnection } from '../clickhouse/config.ts';
import { apiConfigFromEnv } from './config.ts';
import type { ApiKeyRecord } from './keys.ts';
import { KeyError, KeyHasher, KeyStore } from './keys.ts';

const USAGE = `usage:
  faasmeter keys create --tenant <tenant> [--name <text>] [--json]
  faasmeter keys create --admin [--name <text>] [--json]
  faasmeter keys list [--tenant <tenant>] [--json]
  faasmeter keys revoke <key_id> [--json]

The key is printed once, on create; only its hash is stored. Uses FAASMETER_CLICKHOUSE_* and
FAASMETER_API_KEY_PEPPER (set it to the same value the API runs with).
`;

function describe(r: ApiKeyRecord): string {
  const who = r.role === 'admin' ? 'admin' : `tenant=${r.tenant}`;
  const state = r.revokedMs > 0 ? `revoked ${new Date(r.revokedMs).toISOString()}` : 'active';
  return `${r.keyId}  ${who}  ${state}  created ${new Date(r.createdMs).toISOString()}${r.name ? `  name=${JSON.stringify(r.name)}` : ''}`;
}

/** `faasmeter keys`: create, list and revoke billing API keys. Exit 2 on usage errors, 1 when a key is not found. */
export async function runKeysCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        tenant: { type: 'string' },
        admin: { type: 'boolean', default: false },
        name: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    process.stderr.write(`faasmeter keys: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [action, ...rest] = positionals;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const usageError = (message: string) => {
    process.stderr.write(`faasmeter keys: ${message}\n\n${USAGE}`);
    return 2;
  };
  if (action === 'create') {
    if (rest.length > 0) return usageError(`unexpected argument ${JSON.stringify(rest[0])}`);
    if (values.admin === (values.tenant !== undefined)) return usageError('create needs exactly one of --tenant <tenant> or --admin');
  } else if (action === 'list') {
    if (rest.length > 0 || values.admin || values.name !== undefined) return usageError('list takes only [--tenant <tenant>] [--json]');
  } else if (action === 'revoke') {
    if (rest.length !== 1 || values.tenant !== undefined || values.admin || values.name !== undefined) return usageError('revoke takes one key id');
  } else {
    return usageError(action === undefined ? 'missing action' : `unknown action ${JSON.stringify(action)}`);
  }

  const config = apiConfigFromEnv(env);
  const ch = createClickHouse({
    ...clickhouseConnection(config),
    application: 'faasmeter-keys',
  });
  const store = new KeyStore(ch, new KeyHasher(config.FAASMETER_API_KEY_PEPPER));
  const out = (text: string) => process.stdout.write(`${text}\n`);
  try {
    if (action === 'create') {
      const name = values.name ?? '';
      const { key, record } = await store.create(values.admin ? { admin: true, name } : { tenant: values.tenant!, name });
      if (values.json) out(JSON.stringify({ ...record, key }));
      else out(`created ${describe(record)}\n\n${key}\n\nThis is the only time the key is shown; store it now.`);
      return 0;
    }
    if (action === 'list') {
      const records = await store.list(values.tenant === undefined ? {} : { tenant: values.tenant });
      if (values.json) out(JSON.stringify(records));
      else out(records.length === 0 ? 'no keys' : records.map(describe).join('\n'));
      return 0;
    }
    const record = await store.revoke(rest[0]!);
    if (!record) {
      process.stderr.write(`faasmeter keys: no key with id ${JSON.stringify(rest[0])}\n`);
      return 1;
    }
    if (values.json) out(JSON.stringify(record));
    else out(`revoked ${describe(record)}`);
    return 0;
  } catch (error) {
    if (error instanceof KeyError) return usageError(error.message);
    throw error;
  } finally {
    await ch.close();
  }
}
