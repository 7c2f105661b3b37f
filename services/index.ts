import { ope } from './ope.js';
import type { ServiceModule } from './types.js';

/** Every service module, in render order. */
export const SERVICES: readonly ServiceModule[] = [ope];
