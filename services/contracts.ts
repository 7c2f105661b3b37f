/**
 * Every application contract (services/<svc>.contract.ts), by service key: the registry the
 * `app-contract` policy reads. A service module without a contract here renders no
 * `stackbook.io/contract` annotation and is not checked.
 */
import type { AppContract } from './contract.js';
import { OUB_CONTRACT } from './oub.contract.js';

export const CONTRACTS: Readonly<Record<string, AppContract>> = {
  oub: OUB_CONTRACT,
};
