/**
 * Several property decorators as one (class-validator has no `applyDecorators`), applied as if stacked in the
 * order given: the last one first, as TypeScript applies `@A() @B()`.
 */
export function composed(...decorators: PropertyDecorator[]): PropertyDecorator {
  return (target, property) => {
    for (const decorator of decorators.toReversed()) decorator(target, property);
  };
}
