/** Messages of the unit picker's business marks (issue 10). Merged into the catalogues by ../zh-CN.ts and ../en.ts. */
export const pickerZh = {
  'picker.grants_business': "已授权本系统业务：{names}",
  'picker.no_business': "未授权本系统业务",
  'picker.acting_not_granted': "您当前代表的单位未授权本系统业务，请选择要代表的单位。",
} as const;

export const pickerEn: Record<keyof typeof pickerZh, string> = {
  'picker.grants_business': "Grants this system: {names}",
  'picker.no_business': "No permission for this system",
  'picker.acting_not_granted': "The unit you act for does not grant this system's business; choose the unit to act for.",
};
