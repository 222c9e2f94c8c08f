/** A valid `X-Request-Id` from a client: echoed and logged as is (otherwise app.ts makes one). */
export const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;
