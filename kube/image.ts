/**
 * An image reference: repository + tag, pinned by digest where one is given. A plain interface, so
 * that components take it without knowing the stack schema (stacks/primitives.ts `imageRef` parses
 * config into exactly this shape; a type test there keeps them equal).
 */
export interface ImageRef {
  readonly repository: string;
  readonly tag: string;
  readonly digest?: string | undefined;
}

/** `repository:tag[@digest]`. */
export function imageString(ref: ImageRef): string {
  return `${ref.repository}:${ref.tag}${ref.digest ? `@${ref.digest}` : ''}`;
}
