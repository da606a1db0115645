/** Base error of @sipedge/usrloc, with a stable string `code`. */
export class UsrlocError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UsrlocError';
    this.code = code;
  }
}
