/**
 * Every TypeORM entity class, registered with the DataSource. Entities map tables; the schema itself is defined
 * only by the migrations in migrations/ (synchronize is never on).
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export const entities: Function[] = [];
