/** Messages of the portal and the demo business systems. Merged into the catalogues by ../zh-CN.ts and ../en.ts. */
export const portalZh = {
} as const;

export const portalEn: Record<keyof typeof portalZh, string> = {
};
