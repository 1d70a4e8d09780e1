/**
 * Messages that tell people what happened and what comes next (issue 14): the checklist after registration, waits
 * of rate limits, notices of bindings. Merged into the catalogues by ../zh-CN.ts and ../en.ts.
 */
export const noticesZh = {
  'register.signed_in': "注册成功，您已登录。",
  'welcome.step_done': "已完成",
  'welcome.realname_go': "去实名认证",
  'welcome.unit_register_go': "注册单位账号",
  'welcome.unit_login': "以单位身份登录：接受单位的绑定邀请后，在业务系统登录页勾选“以单位身份登录”，选择要代表的单位。",
} as const;

export const noticesEn: Record<keyof typeof noticesZh, string> = {
  'register.signed_in': "Registered. You are signed in.",
  'welcome.step_done': "Done",
  'welcome.realname_go': "Complete real-name verification",
  'welcome.unit_register_go': "Register a unit account",
  'welcome.unit_login': "Sign in as a unit: once you accept a unit's binding, tick \"Sign in as the unit\" on a business system's sign-in page and pick the unit.",
};
