import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes, verify as nodeVerify, createPublicKey } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ENV_KEY_VALID_FROM, KEY_FILE_NAME, KeyError, entryKeyId, loadSigningKeys, rotateSigningKey } from '../../src/chain/keys.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ainfera-keys-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');
function nodeVerifies(pub: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  const key = createPublicKey({ key: Buffer.concat([SPKI_ED25519, pub]), format: 'der', type: 'spki' });
  return nodeVerify(null, msg, key, sig);
}

describe('signing keys', () => {
  it('creates the key file on first start with mode 0600 and reloads the same key', () => {
    const a = loadSigningKeys({ dataDir: dir, create: true, env: {}, origin: 'test.example/log' });
    const path = join(dir, KEY_FILE_NAME);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toContain('ainfera-signing-keys/v1');
    const b = loadSigningKeys({ dataDir: dir, env: {} });
    expect(b.keyId).toBe(a.keyId);
    expect(b.origin).toBe('test.example/log');
    expect(Buffer.from(b.publicKey).equals(Buffer.from(a.publicKey))).toBe(true);
    // keyId = first 8 bytes of SHA-256(public key), hex
    expect(a.keyId).toBe(createHash('sha256').update(a.publicKey).digest('hex').slice(0, 16));
    const msg = new TextEncoder().encode('hello');
    expect(nodeVerifies(a.publicKey, msg, b.signer.sign(msg))).toBe(true);
    const [info] = a.publicKeys();
    expect(info).toMatchObject({ keyId: a.keyId, algorithm: 'ed25519', publicKey: Buffer.from(a.publicKey).toString('base64'), validUntil: null });
    expect(info!.noteKey.startsWith('test.example/log+')).toBe(true);
    expect(JSON.stringify(a)).not.toContain(readFileSync(path, 'utf8').match(/"seed": "([^"]+)"/)![1]);
  });

  it('refuses a key file readable by group or others, naming the file and the fix', () => {
    loadSigningKeys({ dataDir: dir, create: true, env: {} });
    const path = join(dir, KEY_FILE_NAME);
    chmodSync(path, 0o640);
    expect(() => loadSigningKeys({ dataDir: dir, env: {} })).toThrow(/group\/others.*chmod 600/);
    try {
      loadSigningKeys({ dataDir: dir, env: {} });
    } catch (err) {
      expect(err).toBeInstanceOf(KeyError);
      expect((err as KeyError).code).toBe('insecure_permissions');
    }
  });

  it('does not create a key unless asked, and rejects a malformed file naming the field', () => {
    expect(() => loadSigningKeys({ dataDir: dir, env: {} })).toThrow(KeyError);
    const path = join(dir, KEY_FILE_NAME);
    writeFileSync(path, JSON.stringify({ format: 'ainfera-signing-keys/v1', origin: 'x', current: { seed: 'AAAA', validFrom: '2026-01-01T00:00:00.000Z' }, retired: [] }), { mode: 0o600 });
    expect(() => loadSigningKeys({ dataDir: dir, env: {} })).toThrow(/current\.seed/);
  });

  it('loads a base64 seed from AINFERA_SIGNING_KEY and rejects a bad one', () => {
    const seed = randomBytes(32);
    const k = loadSigningKeys({ env: { AINFERA_SIGNING_KEY: seed.toString('base64') } });
    expect(k.publicKeys()[0]!.validFrom).toBe(ENV_KEY_VALID_FROM);
    expect(k.source).toBe('env:AINFERA_SIGNING_KEY');
    expect(() => loadSigningKeys({ env: { AINFERA_SIGNING_KEY: 'not base64!' } })).toThrow(/AINFERA_SIGNING_KEY/);
    expect(() => loadSigningKeys({ env: { AINFERA_SIGNING_KEY: randomBytes(16).toString('base64') } })).toThrow(/32 bytes/);
  });

  it('rotation keeps the old public key listed with its validity range', () => {
    const old = loadSigningKeys({ dataDir: dir, create: true, env: {}, now: () => new Date('2026-01-01T00:00:00.000Z') });
    const path = join(dir, KEY_FILE_NAME);
    rotateSigningKey(path, new Date('2026-06-01T00:00:00.000Z'));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const now = loadSigningKeys({ dataDir: dir, env: {} });
    expect(now.keyId).not.toBe(old.keyId);
    const list = now.publicKeys();
    expect(list.map((k) => k.keyId)).toEqual([now.keyId, old.keyId]);
    expect(list[0]).toMatchObject({ validFrom: '2026-06-01T00:00:00.000Z', validUntil: null });
    expect(list[1]).toMatchObject({ validFrom: '2026-01-01T00:00:00.000Z', validUntil: '2026-06-01T00:00:00.000Z', keyId: entryKeyId(old.publicKey) });
  });

  it('two starts racing on an empty data dir end up with one key', async () => {
    const a = loadSigningKeys({ dataDir: dir, create: true, env: {} });
    const b = loadSigningKeys({ dataDir: dir, create: true, env: {} });
    expect(a.keyId).toBe(b.keyId);
  });
});
