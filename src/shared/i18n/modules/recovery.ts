/**
 * Messages of the recovery module (account and password recovery of units, appeals). zh-CN is the source of the
 * keys; en must have the same keys. Merged into the catalogues by ../zh-CN.ts and ../en.ts.
 */
export const recoveryZh = {
} as const;

export const recoveryEn: Record<keyof typeof recoveryZh, string> = {
};
