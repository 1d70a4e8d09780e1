import { IsOptional } from 'class-validator';
import { TextField } from '../../shared/http/validate.js';
import { AuditPageQueryDto, FILTER_MAX } from '../audit/page.js';

/** The search box of the console's person and unit lists: over-long text is refused (400), never cut. */
export class ConsoleSearchQueryDto {
  @IsOptional()
  @TextField(FILTER_MAX)
  q?: string;
}

/** The console's whole audit log: the page's filters and the person or unit it is about (`q`). */
export class ConsoleAuditQueryDto extends AuditPageQueryDto {
  @IsOptional()
  @TextField(FILTER_MAX)
  q?: string;
}
