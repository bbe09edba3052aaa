import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { kinInput, signUp, startTestServer } from './helpers.js';

const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082',
  'hex',
);

describe('shutdown', () => {
  it('lets a request in progress finish before closing the stores', async () => {
    const server = await startTestServer();
    const { api, cookie } = await signUp(server.url);
    const kin = (await api.post('/api/kins', kinInput())).body.kin;
    const boundary = 'kinbot-boundary';
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n`;
    const tail = `\r\n--${boundary}--\r\n`;
    const { port } = new URL(server.url);
    const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: `/api/kins/${kin.id}/avatar`,
          headers: {
            cookie,
            'content-type': `multipart/form-data; boundary=${boundary}`,
            'content-length': Buffer.byteLength(head) + PNG.length + Buffer.byteLength(tail),
          },
        },
        (res) => {
          let body = '';
          res.on('data', (chunk) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      // Half the body now; the rest once the shutdown has begun.
      req.write(head);
      setTimeout(() => {
        const stopping = server.stop();
        setTimeout(() => req.end(Buffer.concat([PNG, Buffer.from(tail)])), 100);
        void stopping;
      }, 100);
    });
    const { status, body } = await response;
    expect(status).toBe(200);
    expect(JSON.parse(body).avatarUrl).toMatch(/avatar\.png/);
    await server.stop();
    const restarted = await startTestServer(server.dataDir);
    expect((await restarted.services.readStore.collection('kins').get(kin.id))?.avatar).toMatchObject({ ext: 'png' });
    await restarted.cleanup();
  });
});
