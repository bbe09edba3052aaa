import { pino } from 'pino';
import { loadConfig } from './config.js';
import { openServices } from './services.js';
import { startServer } from './server.js';

const config = loadConfig();
const log = pino({ level: config.logLevel });
const services = await openServices(config, log);
const server = await startServer(services);
log.info({ url: `http://${config.host}:${server.port}`, dataDir: config.dataDir }, 'KinBot is listening');

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    await server.close();
    process.exit(0);
  });
}
