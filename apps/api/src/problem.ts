/**
 * An error that becomes an RFC 9457 problem+json answer. `code` is stable: clients
 * branch on it; `title` and `detail` are for people.
 */
export interface FieldError {
  /** The field at fault, as a dotted path (`metadata`, `allowed_tools.2`). */
  field: string;
  message: string;
}

export class HttpProblem extends Error {
  override readonly name = 'HttpProblem';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: { errors?: FieldError[]; headers?: Record<string, string> } = {},
  ) {
    super(message);
  }
}

export const notFound = (what: string) => new HttpProblem(404, 'not_found', `${what} not found`);
