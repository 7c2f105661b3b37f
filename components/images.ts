/**
 * The platform images the components deploy, by the name a stack pins them under
 * (`stackbook:images.<name>`: digest, or another tag or repository). Services resolve them with
 * `ctx.platformImage(name)`; the reasons for each version are beside each constant.
 */
import { BACKUP_IMAGES } from './backup.js';
import { CLICKHOUSE_IMAGE } from './clickhouse.js';
import { KAFKA_IMAGE } from './kafka.js';
import { MC_IMAGE, MINIO_IMAGE } from './minio.js';
import { MONGODB_IMAGE } from './mongodb.js';
import { POSTGRES_IMAGE } from './postgres.js';
import { PITR_DRILL_IMAGE } from './postgres-drill.js';
import { QDRANT_IMAGE } from './qdrant.js';
import { REDIS_EXPORTER_IMAGE, REDIS_IMAGE } from './redis.js';
import type { ImageRef } from '../kube/image.js';

export const PLATFORM_IMAGES = {
  redis: REDIS_IMAGE,
  'redis-exporter': REDIS_EXPORTER_IMAGE,
  /** HAProxy 3.2 LTS (official image): routes clients of a replicated Redis to the current primary. */
  haproxy: { repository: 'docker.io/library/haproxy', tag: '3.2.4-alpine' },
  postgres: POSTGRES_IMAGE,
  /** PostgreSQL + barman-cloud (the operand image's `system` flavour): the point-in-time restore drill. */
  'postgres-pitr-drill': PITR_DRILL_IMAGE,
  kafka: KAFKA_IMAGE,
  mongodb: MONGODB_IMAGE,
  qdrant: QDRANT_IMAGE,
  minio: MINIO_IMAGE,
  'minio-mc': MC_IMAGE,
  clickhouse: CLICKHOUSE_IMAGE,
  'backup-postgres': BACKUP_IMAGES.postgres,
  'backup-mongodb': BACKUP_IMAGES.mongodb,
  'backup-sqlite': BACKUP_IMAGES.sqlite,
  'backup-tools': BACKUP_IMAGES.tools,
  'backup-s3': BACKUP_IMAGES.s3,
} as const satisfies Record<string, ImageRef>;
export type PlatformImageName = keyof typeof PLATFORM_IMAGES;

export const isPlatformImageName = (n: string): n is PlatformImageName => Object.prototype.hasOwnProperty.call(PLATFORM_IMAGES, n);
