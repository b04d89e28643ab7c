// A client that does what a 503 asks: send the same request again (under the same Idempotency-Key, so
// a first attempt that took effect after all is answered, not repeated). On CI's loaded 2 cores a release
// now and then does not take an Update within the API's 15 s, and says so with 503.
import type { Stack } from './stack.ts';

type CallOptions = NonNullable<Parameters<Stack['call']>[2]>;

export async function callResending(stack: Stack, method: string, path: string, opts: CallOptions & { headers: { 'idempotency-key': string } }, attempts = 5): Promise<Awaited<ReturnType<Stack['call']>>> {
  for (let attempt = 1; ; attempt++) {
    const r = await stack.call(method, path, opts);
    if (r.status !== 503 || attempt >= attempts) return r;
  }
}
