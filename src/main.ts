import { pino } from 'pino';
import pretty from 'pino-pretty';
import { loadConfig } from './config.js';
import { openServices } from './services.js';
import { startServer } from './server.js';

const config = loadConfig();
// A person at a terminal reads lines; a log collector reads JSON.
const log = pino({ level: config.logLevel }, process.stdout.isTTY ? pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l' }) : undefined);
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
