import { aion } from './aion.js';
import { ope } from './ope.js';
import { osc } from './osc.js';
import { oub } from './oub.js';
import { ows } from './ows.js';
import type { ServiceModule } from './types.js';

/** Every service module, in render order (the runbooks' order). */
export const SERVICES: readonly ServiceModule[] = [osc, ows, oub, ope, aion];
