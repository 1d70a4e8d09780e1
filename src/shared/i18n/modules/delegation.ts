/** Messages of the unit picker's business marks and search (issues 10, 15) and the common-contact form (issue 10). Merged into the catalogues by ../zh-CN.ts and ../en.ts. */
export const delegationZh = {
  'picker.grants_business': '已授权本系统业务：{names}',
  'picker.no_business': '未授权本系统业务',
  'picker.acting_not_granted': '您当前代表的单位未授权本系统业务，请选择要代表的单位。',
  'picker.search_label': '按单位名称或证件号码查找',
  'picker.search_clear': '显示全部单位',
  'picker.shown': '共{total}个单位，显示其中{shown}个，最近使用的在前。',
  'picker.show_more': '显示更多单位',
  'picker.no_match': '没有名称或证件号码包含“{query}”的可代表单位。',
  'error.binding_contact_no_validity': '常用联系人的绑定不设有效期。',
  'unit.contact_scopes': '设为常用联系人只变更类型，业务权限保持不变；如需调整，请在此一并修改：',
} as const;

export const delegationEn: Record<keyof typeof delegationZh, string> = {
  'picker.grants_business': 'Grants this system: {names}',
  'picker.no_business': 'No permission for this system',
  'picker.acting_not_granted': "The unit you act for does not grant this system's business; choose the unit to act for.",
  'picker.search_label': 'Find a unit by name or certificate number',
  'picker.search_clear': 'Show all units',
  'picker.shown': '{shown} of {total} units shown, most recently used first.',
  'picker.show_more': 'Show more units',
  'picker.no_match': 'None of the units you can act for has “{query}” in its name or certificate number.',
  'error.binding_contact_no_validity': "The common contact's binding has no validity period.",
  'unit.contact_scopes': 'Making someone the common contact changes the role only; the business permissions stay as they are unless you change them here:',
};
