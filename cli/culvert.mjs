#!/usr/bin/env node
// The npm bin: runs the TypeScript entry points through tsx, so no build step stands between a clone and a server.
import { register } from 'tsx/esm/api';

register();
// Release owners' commands are small HTTP calls: they skip loading the server (Temporal, database).
const { clientCommands, runClientMain } = await import('./client/main.ts');
if (clientCommands.includes(process.argv[2] ?? '')) await runClientMain(process.argv[2], process.argv.slice(3));
else await import('./culvert.ts');
