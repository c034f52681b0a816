import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../../src/config.js';

function writeConfig(value: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'ainfera-config-'));
  const file = join(dir, 'config.json');
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
  return file;
}

describe('config', () => {
  it('starts with no file on loopback and the embedded store', () => {
    const config = loadConfig({ env: {} });
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 4000 });
    expect(config.store).toEqual({ kind: 'embedded', dataDir: './data' });
    expect(config.simulatedFleet.enabled).toBe('auto');
  });

  it('names an unknown field, nested or top-level', () => {
    expect(() => parseConfig({ listen: { host: 'localhost', prot: 4001 } })).toThrow(/listen\.prot: unknown field/);
    expect(() => parseConfig({ lisen: {} })).toThrow(/lisen: unknown field/);
  });

  it('names a mistyped field', () => {
    try {
      parseConfig({ routing: { timeouts: { stallMs: '20s' } }, defaultAgentPolicy: { caps: { costCeilingMicros: 1.5 } } });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems.join('\n');
      expect(problems).toMatch(/routing\.timeouts\.stallMs/);
      expect(problems).toMatch(/defaultAgentPolicy\.caps\.costCeilingMicros/);
    }
  });

  it('reads secrets only by environment variable name', () => {
    expect(() => parseConfig({ providers: [{ id: 'groq', baseUrl: 'https://api.groq.com/openai/v1', apiKeyEnv: 'sk-live-123' }] })).toThrow(
      /providers\.0\.apiKeyEnv/,
    );
  });

  it('loads a file from AINFERA_CONFIG and applies HOST/PORT overrides', () => {
    const file = writeConfig({ listen: { port: 5000 }, store: { kind: 'embedded', dataDir: '/tmp/x' } });
    const config = loadConfig({ env: { AINFERA_CONFIG: file, PORT: '6000' } });
    expect(config.listen.port).toBe(6000);
    expect(config.store).toEqual({ kind: 'embedded', dataDir: '/tmp/x' });
  });

  it('refuses a bad PORT and an unparseable file with the reason', () => {
    expect(() => loadConfig({ env: { PORT: 'eighty' } })).toThrow(/PORT must be an integer/);
    expect(() => loadConfig({ path: writeConfig('{ nope') })).toThrow(/not valid JSON/);
    expect(() => loadConfig({ path: '/nonexistent/ainfera.json' })).toThrow(/Cannot read config file/);
  });
  it('defaults health and metrics: no drain delay, admin-only metrics with process metrics', () => {
    const config = parseConfig({});
    expect(config.health).toEqual({ drainDelayMs: 0, storeCheckMs: 2_000, storeTimeoutMs: 500, chainStallMs: 10_000, readyRequiresServable: true });
    expect(config.metrics).toEqual({ enabled: true, access: 'admin', processMetrics: true });
    expect(parseConfig({ metrics: { access: 'public' }, health: { drainDelayMs: 15_000 } })).toMatchObject({
      metrics: { enabled: true, access: 'public', processMetrics: true },
      health: { drainDelayMs: 15_000, storeCheckMs: 2_000 },
    });
  });

  it('names a bad health or metrics field', () => {
    expect(() => parseConfig({ metrics: { access: 'anyone' } })).toThrow(/metrics\.access/);
    expect(() => parseConfig({ metrics: { public: true } })).toThrow(/metrics\.public: unknown field/);
    expect(() => parseConfig({ health: { drainDelayMs: -1 } })).toThrow(/health\.drainDelayMs/);
    expect(() => parseConfig({ health: { storeTimeoutMs: 0 } })).toThrow(/health\.storeTimeoutMs/);
  });
});
