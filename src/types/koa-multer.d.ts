/** Types of @koa/multer 4 (the package ships none): multer's middleware as Koa middleware. */
declare module '@koa/multer' {
  import type { Middleware } from 'koa';
  import type originalMulter from 'multer';

  interface KoaMulter {
    any(): Middleware;
    array(fieldName: string, maxCount?: number): Middleware;
    fields(fields: readonly originalMulter.Field[]): Middleware;
    none(): Middleware;
    single(fieldName: string): Middleware;
  }

  function multer(options?: originalMulter.Options): KoaMulter;

  namespace multer {
    const diskStorage: typeof originalMulter.diskStorage;
    const memoryStorage: typeof originalMulter.memoryStorage;
  }

  export default multer;
}
