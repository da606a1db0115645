/** Bounded waits: poll a probe until it holds, never sleep to order events. */

/** Resolves when `probe` returns true; throws after `ms` with the last reason given. */
export async function until(
  what: string,
  ms: number,
  probe: () => Promise<boolean | string> | boolean | string,
  everyMs = 100,
): Promise<void> {
  const deadline = Date.now() + ms;
  let last = '';
  for (;;) {
    try {
      const r = await probe();
      if (r === true) return;
      last = typeof r === 'string' ? r : '';
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${last === '' ? '' : `: ${last}`}`);
}

/** The value `probe` returns once it is not undefined, within `ms`. */
export async function eventually<T>(
  what: string,
  ms: number,
  probe: () => Promise<T | undefined> | T | undefined,
  everyMs = 100,
): Promise<T> {
  let value: T | undefined;
  await until(
    what,
    ms,
    async () => {
      value = await probe();
      return value !== undefined;
    },
    everyMs,
  );
  return value as T;
}
