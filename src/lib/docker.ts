import { existsSync } from 'node:fs';

/**
 * Whether KinBot runs in a container: the image sets KINBOT_DOCKER=1 (see Dockerfile), and Docker
 * itself leaves /.dockerenv. Decided once: neither changes while the process runs.
 */
export const runningInDocker: boolean = process.env.KINBOT_DOCKER === '1' || existsSync('/.dockerenv');
