#!/usr/bin/env node
// Runs the TypeScript CLI in place through tsx's loader: no build step, and
// `npx deltameta …` in a checkout runs exactly the code that is there.
import { register } from 'tsx/esm/api';

register();
await import('../services/cli/main.ts');
