// Recognizing MongoDB errors by code (the driver's classes differ between a single write and a bulk write).

/** E11000 duplicate key, from insertOne/updateOne or from every failed write of a bulk insert. */
export function isDuplicateKey(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; writeErrors?: { code?: unknown }[] };
  if (Array.isArray(e.writeErrors) && e.writeErrors.length > 0) return e.writeErrors.every((w) => w.code === 11000);
  return e.code === 11000;
}

/** Which unique index a duplicate key hit: from keyPattern when the server sends it, else the message. */
export function duplicateKeyField(err: unknown, fields: readonly string[]): string | undefined {
  const e = err as { keyPattern?: Record<string, unknown>; message?: string };
  if (e.keyPattern) {
    const hit = fields.find((f) => f in e.keyPattern!);
    if (hit) return hit;
  }
  const msg = String(e.message ?? '');
  return fields.find((f) => msg.includes(`${f}_1`) || msg.includes(`{ ${f}:`));
}
