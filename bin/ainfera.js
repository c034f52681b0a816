#!/usr/bin/env node
// Launcher for `npx ainfera`: registers tsx's loader in this process and runs the TypeScript CLI.
import process from 'node:process';
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2));
