/** Reads /api/sse as a client would: frames of `event:` and `data:` lines, collected as they arrive. */
export async function openSse(url: string, headers: Record<string, string>) {
  const controller = new AbortController();
  const response = await fetch(`${url}/api/sse`, { headers, signal: controller.signal });
  const reader = response.body!.getReader();
  const received: { event: string; data: any }[] = [];
  let buffer = '';
  const pump = (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      buffer += new TextDecoder().decode(value);
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(frame)?.[1] ?? 'message';
        const data = JSON.parse(/^data: (.*)$/m.exec(frame)?.[1] ?? 'null');
        received.push({ event, data });
      }
    }
  })();
  const waitFor = async (predicate: () => boolean) => {
    for (let i = 0; i < 150 && !predicate(); i++) await new Promise((r) => setTimeout(r, 20));
  };
  await waitFor(() => received.some((m) => m.event === 'connected'));
  return {
    response,
    received,
    waitFor,
    /** The `message` events' data, in order. */
    messages: () => received.filter((m) => m.event === 'message').map((m) => m.data),
    async close() {
      controller.abort();
      await pump;
    },
  };
}
