/**
 * Entry of the Pulumi program (Pulumi.yaml `main: build/pulumi/index.js`, compiled by tsc).
 * The runtime calls the default export and takes what it returns as the stack outputs.
 */
import { program, type StackOutputs } from './program.js';

export default function stackbook(): StackOutputs {
  return program().outputs;
}
