/**
 * Every application contract (services/<svc>.contract.ts), by service key: the registry the
 * `app-contract` policy reads. A service module without a contract here renders no
 * `stackbook.io/contract` annotation and is not checked.
 */
import type { AppContract } from './contract.js';
import { aionContract } from './aion.contract.js';
import { opeContract } from './ope.contract.js';
import { OSC_CONTRACT } from './osc.contract.js';
import { OUB_CONTRACT } from './oub.contract.js';
import { owsContract } from './ows.contract.js';

export const CONTRACTS: Readonly<Record<string, AppContract>> = {
  aion: aionContract,
  ope: opeContract,
  osc: OSC_CONTRACT,
  oub: OUB_CONTRACT,
  ows: owsContract,
};
