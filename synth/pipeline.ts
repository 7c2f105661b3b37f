/**
 * The one pipeline from a loaded stack to objects that may be deployed: render -> policies ->
 * air-gap check. `stackbook synth`/`check` (cli/main.ts) and the Pulumi program
 * (pulumi/program.ts) both go through `checkStack`, so a stack `synth` refuses cannot be deployed
 * with `pulumi up` either, and both say why with the same one line per problem.
 * Loading stays with each front door (stack files for the CLI, Pulumi config for the program):
 * both end in `parseStack` (stacks/load.ts) and fail with the same ConfigError text.
 */
import { airgapProblems, formatAirgapProblem, type AirgapProblem } from './airgap.js';
import { render, type Rendered } from './render.js';
import { blocking, evaluate, formatViolation, type Violation } from '../policies/manifest-rules.js';
import type { ServiceModule } from '../services/types.js';
import type { Stack } from '../stacks/schema.js';

export interface Checked {
  /** The stack's environment (`stack.environment`), prefixed to every line. */
  readonly env: string;
  readonly rendered: Rendered;
  /** Every violation, excepted ones included (`exceptedBecause`). */
  readonly violations: readonly Violation[];
  /** The violations that refuse the stack (mandatory and not excepted). */
  readonly blockers: readonly Violation[];
  /** Air-gap problems; judged for air-gapped stacks only (empty otherwise). */
  readonly airgap: readonly AirgapProblem[];
}

/**
 * Render a validated stack and judge it. Throws ConfigError for config problems found while
 * rendering (secret sources, image pins); returns the verdict otherwise (never throws for it).
 * @param services @default every module in services/index.ts (as `render`).
 */
export function checkStack(stack: Stack, services?: readonly ServiceModule[]): Checked {
  const rendered = services ? render(stack, services) : render(stack);
  const violations = evaluate(rendered.objects);
  return {
    env: stack.environment,
    rendered,
    violations,
    blockers: blocking(violations),
    airgap: stack.cluster.airgapped ? airgapProblems(rendered) : [],
  };
}

/** One line per violation: `<env>: Kind ns/name: [rule] message — fix: ...`. */
export function violationLines(c: Checked, { withExcepted = true } = {}): string[] {
  return c.violations.filter((v) => withExcepted || v.exceptedBecause === undefined).map((v) => `${c.env}: ${formatViolation(v)}`);
}

/** One line per air-gap problem: `<env>: air-gap: ...`. */
export function airgapLines(c: Checked): string[] {
  return c.airgap.map((p) => `${c.env}: air-gap: ${formatAirgapProblem(p)}`);
}

/** Why the stack must not be written or deployed, one line each; empty when it may be. */
export function refusalLines(c: Checked): string[] {
  const lines = [...airgapLines(c), ...c.blockers.map((v) => `${c.env}: ${formatViolation(v)}`)];
  if (c.airgap.length > 0) lines.push(`${c.env}: air-gapped stack refused (images must come from the mirror by digest; no public hosts)`);
  if (c.blockers.length > 0) lines.push(`${c.env}: mandatory policy violations: refused`);
  return lines;
}
