import type { LiveMapper } from './feed.js';
import { kinLiveMessages } from './kins.js';

export const allLiveMappers: readonly LiveMapper[] = [kinLiveMessages];
