import { describe, expect, it } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import { decodeCandidates, encodeCandidates } from '../../src/gateway/decision-codec.js';
import { decisionDetail } from '../../src/api/schema/decisions.js';
import { Router, seededRandom } from '../../src/routing/router.js';
import { Signals } from '../../src/routing/signals.js';
import type { ScoredCandidate } from '../../src/routing/types.js';
import type { DecisionRecord } from '../../src/store/port.js';

const roundTrip = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

function scored(): ScoredCandidate[] {
  const catalog = new Catalog();
  const router = new Router({ catalog, signals: new Signals(catalog), random: seededRandom(3) });
  // A cost cap refuses some candidates, so refusals with their numbers are part of the record.
  const plan = router.plan({ messages: [{ role: 'user', content: 'Say hello.' }], maxOutputTokens: 4000, caps: { costCeilingMicros: 20_000 } });
  return plan.candidates;
}

describe('decision candidates codec', () => {
  it('stores every scored candidate losslessly in well under half the JSON', () => {
    const candidates = scored();
    expect(candidates.length).toBeGreaterThan(10);
    expect(candidates.some((c) => !c.eligible && c.refusals.length > 0)).toBe(true);
    const stored = roundTrip(encodeCandidates(candidates));
    expect(decodeCandidates(stored)).toEqual(roundTrip(candidates));
    expect(JSON.stringify(stored).length).toBeLessThan(JSON.stringify(candidates).length / 2);
  });

  it('keeps a candidate or price whose keys differ as it was, and reads plain arrays of older records', () => {
    const [a, b, c] = scored();
    const odd = { ...b!, extra: 1 } as ScoredCandidate;
    const noOrigin = { ...c!, price: { inputPerMTokMicros: 1, outputPerMTokMicros: 2, source: 'config', readAt: 5 } } as ScoredCandidate;
    const list = [a!, odd, noOrigin];
    expect(decodeCandidates(roundTrip(encodeCandidates(list)))).toEqual(roundTrip(list));
    expect(decodeCandidates(roundTrip(encodeCandidates([])))).toEqual([]);
    expect(decodeCandidates(roundTrip(list))).toEqual(roundTrip(list));
    expect(decodeCandidates({ form: 'unknown' })).toBeUndefined();
  });

  it('is decoded by the API reader, for compact and for plain stored decisions', () => {
    const candidates = roundTrip(scored());
    const rec = (decision: unknown) => ({ detail: { v: 1, decision: { taskType: 'chat', attempts: [], decision: undefined, ...(decision as object) } } }) as unknown as DecisionRecord;
    const compact = decisionDetail(rec({ candidates: roundTrip(encodeCandidates(candidates)) }));
    expect(compact.candidates).toEqual(candidates);
    expect(compact.attempts).toEqual([]);
    expect(decisionDetail(rec({ candidates })).candidates).toEqual(candidates);
  });
});
