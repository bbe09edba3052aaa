/**
 * A failure the client can act on. Deciders and handlers throw these; the edge turns them into
 * the error envelope `{ error: { code, message, details? } }` with `status`.
 */
export class DomainError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const notFound = (code: string, message: string) => new DomainError(404, code, message);
export const badRequest = (code: string, message: string, details?: unknown) =>
  new DomainError(400, code, message, details);
export const conflict = (code: string, message: string) => new DomainError(409, code, message);
export const forbidden = (code: string, message: string) => new DomainError(403, code, message);
export const unauthorized = (message = 'Authentication required') =>
  new DomainError(401, 'UNAUTHORIZED', message);

export type ErrorEnvelope = { error: { code: string; message: string; details?: unknown } };

export const envelope = (code: string, message: string, details?: unknown): ErrorEnvelope => ({
  error: details === undefined ? { code, message } : { code, message, details },
});
