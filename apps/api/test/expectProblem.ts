/** Assertions shared by the API test files: every refusal is RFC 9457 problem+json. */
import { expect } from 'vitest';

export interface ProblemExpectation {
  status: number;
  code: string;
  /** The `field` the problem names, when it names one. */
  field?: string;
}

/** Asserts a response is a problem+json refusal with this status, code and (optionally) field. */
export function expectProblem(res: { status: number; headers: Headers; body: any }, expected: ProblemExpectation): void {
  const summary = `${res.status} ${JSON.stringify(res.body)}`;
  expect(res.status, summary).toBe(expected.status);
  expect(res.headers.get('content-type'), summary).toMatch(/^application\/problem\+json/);
  expect(res.body, summary).toMatchObject({
    type: `https://claude-queue.dev/problems/${expected.code}`,
    status: expected.status,
    code: expected.code,
    title: expect.any(String),
    detail: expect.any(String),
  });
  if (expected.field !== undefined) {
    expect(res.body.field, summary).toBe(expected.field);
    expect(res.body.errors, summary).toContainEqual(expect.objectContaining({ field: expected.field }));
  }
}
