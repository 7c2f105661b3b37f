/** Thrown when a component receives props it cannot render safely. The message names the prop and the value. */
export class ComponentError extends Error {
  constructor(component: string, id: string, prop: string, message: string, value?: unknown) {
    super(`${component} "${id}": ${prop} ${message}${value === undefined ? '' : ` (got ${JSON.stringify(value)})`}`);
    this.name = 'ComponentError';
  }
}
