import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { uuidv7, uuidv7Floor } from './ids.js';

describe('uuidv7', () => {
  it('is a valid version 7 uuid', () => {
    const id = uuidv7();
    expect(z.uuid().safeParse(id).success).toBe(true);
    expect(id[14]).toBe('7');
  });

  it('has a floor per millisecond that sorts before every id of that millisecond and after earlier ones', () => {
    const t = Date.now() + 20_000;
    const floor = uuidv7Floor(t);
    expect(uuidv7(t - 1) < floor).toBe(true);
    expect(uuidv7(t) >= floor).toBe(true);
  });

  it('sorts by creation, even within one millisecond and when the clock steps back', () => {
    const now = Date.now() + 10_000;
    const ids = [uuidv7(now), uuidv7(now), uuidv7(now), uuidv7(now - 5), uuidv7(now + 1)];
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
