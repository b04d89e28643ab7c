#!/usr/bin/env node
// The npm bin: runs the TypeScript entry point through tsx, so no build step stands between a clone and a server.
import { register } from 'tsx/esm/api';

register();
await import('./culvert.ts');
