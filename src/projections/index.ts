import type { Projection } from '../es/projections.js';
import { usersProjection } from './users.js';
import { kinsProjection } from './kins.js';

/** Every read model of the application, in no particular order (each has its own checkpoint). */
export const allProjections: readonly Projection[] = [usersProjection, kinsProjection];
