import { multistream, pino } from 'pino';
import { loadConfig } from './config.js';
import { createLogBuffer } from './lib/logBuffer.js';
import { openServices } from './services.js';
import { startServer } from './server.js';

const config = loadConfig();
// A person at a terminal reads lines; a log collector reads JSON. The admins' logs page reads the buffer.
// pino-pretty is loaded only for a terminal: importing it costs start-up time.
const terminal = process.stdout.isTTY ? (await import('pino-pretty')).default({ colorize: true, translateTime: 'SYS:HH:MM:ss.l' }) : process.stdout;
const logs = createLogBuffer();
const log = pino({ level: config.logLevel }, multistream([{ stream: terminal, level: 'trace' }, { stream: logs.stream, level: 'trace' }]));
const services = await openServices(config, log, { logs });
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
