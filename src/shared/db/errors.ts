/**
 * The unique constraint a failed statement violated (PostgreSQL 23505), or undefined for any other error. Lets a
 * service turn the database's last word on a race into the same answer its own check would have given.
 */
export function uniqueViolation(error: unknown): string | undefined {
  const driver = (error as { driverError?: { code?: string; constraint?: string } }).driverError;
  return driver?.code === '23505' ? driver.constraint ?? 'unique' : undefined;
}
