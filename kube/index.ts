/**
 * The ground floor (issue 18): the Kubernetes vocabulary every layer shares. Nothing here imports
 * anything of ours; every other folder may import it (docs/architecture.md).
 */
export * from './annotations.js';
export * from './errors.js';
export * from './image.js';
export * from './names.js';
export * from './network.js';
export * from './quantity.js';
export * from './replicas.js';
export * from './schedule.js';
export * from './secrets.js';
export * from './security.js';
export * from './tier.js';
export * from './storage.js';
