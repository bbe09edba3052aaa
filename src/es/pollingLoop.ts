/**
 * Runs `pass` one at a time: when woken, and at least every `pollMs` (for changes made by other
 * processes). A pass that reports a failure is retried after `retryMs` instead of at once, so a
 * persistent error does not spin.
 */
export function pollingLoop(pass: () => Promise<{ failed: boolean }>, options: { pollMs: number; retryMs?: number }) {
  let stopped = true;
  let wake: () => void = () => {};
  let loop: Promise<void> | null = null;
  let timer: NodeJS.Timeout | null = null;

  async function run() {
    while (!stopped) {
      const signal = new Promise<void>((resolve) => (wake = resolve));
      const { failed } = await pass();
      await (failed ? new Promise((resolve) => setTimeout(resolve, options.retryMs ?? 1000)) : signal);
    }
  }

  return {
    start() {
      stopped = false;
      loop = run();
      timer = setInterval(() => wake(), options.pollMs);
      timer.unref();
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      wake();
      await loop;
    },
    wake: () => wake(),
    isStopped: () => stopped,
  };
}
