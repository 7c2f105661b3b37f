/** Annotations and label keys of our own that several layers write or read. */

/** Annotation that links a rendered object to its application contract: `<service>/<workload>` or `<service>`. */
export const CONTRACT_ANNOTATION = 'stackbook.io/contract';
