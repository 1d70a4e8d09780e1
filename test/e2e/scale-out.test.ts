import { describeScaleOut } from '../support/scale-out.js';

/** Issue #16: three processes on one PostgreSQL behind Debian's HAProxy (see test/support/scale-out.ts). */
describeScaleOut('scale-out behind HAProxy, round robin without stickiness (issue #16, S-52)');
