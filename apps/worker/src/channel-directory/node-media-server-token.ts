/**
 * Whether a channel token that expires at `expiry` is refused by node-media-server now. It compares
 * whole seconds (`exp < now` in seconds): a token is good through the second it names.
 */
export function tokenExpired(expiry: Date, now = Date.now()): boolean {
  return expiry.getTime() + 999 < now;
}
