import { fileURLToPath } from 'node:url';
import { clientCommands, runClient } from './index.ts';

export { clientCommands };

export async function runClientMain(command: string, argv: string[]): Promise<never> {
  const code = await runClient(command, argv, {
    env: process.env,
    fetch: (url, init) => fetch(url, init),
    out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
    defaultDataDir: fileURLToPath(new URL('../../.culvert', import.meta.url)),
  });
  process.exit(code);
}
