/**
 * The Pulumi policy pack entry (`pulumi preview --policy-pack policies`): the rules of
 * ./rules.ts as stack policies, through the pure adapter in ./pulumi-adapter.ts.
 *
 * Run by @pulumi/pulumi/cmd/run-policy-pack with the policies/ directory as working directory:
 * it `require`s the directory (policies/package.json `main` -> this file compiled into
 * build/policies/pack.js; build with `npm run build`), and PolicyPack reads the pack version
 * from policies/package.json. Constructing PolicyPack starts the analyzer's gRPC server, so
 * nothing but this entry may do it (never in tests).
 */
import { PolicyPack } from '@pulumi/policy';
import { stackPolicies } from './pulumi-adapter.js';

new PolicyPack('stackbook', {
  description: 'stackbook policies (policies/manifest-rules.ts): the checks `stackbook synth` runs, on the objects Pulumi deploys.',
  policies: stackPolicies(),
});
