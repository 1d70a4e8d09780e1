/**
 * The unique constraint a failed statement violated (PostgreSQL 23505), or undefined for any other error. Lets a
 * service turn the database's last word on a race into the same answer its own check would have given.
 */
export function uniqueViolation(error: unknown): string | undefined {
  // From a transaction (TypeORM wraps the driver's error) or a plain statement (the driver's error itself).
  const outer = error as { code?: string; constraint?: string; driverError?: { code?: string; constraint?: string } };
  const driver = outer.driverError ?? outer;
  return driver.code === '23505' ? (driver.constraint ?? 'unique') : undefined;
}
