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
  'notice.sms.binding_invited': "【统一身份认证平台】{unit}邀请您成为该单位的经办人员。请登录个人中心，在“待确认的单位授权”中同意或拒绝。",
  'notice.sms.binding_removed': "【统一身份认证平台】您与{unit}的绑定已取消，您不能再代表该单位办理业务。",
  'notice.binding_invited': "{unit}邀请您成为该单位的经办人员，请在“待确认的单位授权”中同意或拒绝。",
  'notice.binding_removed': "您与{unit}的绑定已取消。",
  'notice.title': "通知",
  'notice.unread': "未读",
  'notice.read': "已读",
  'notice.mark_read': "全部标为已读",
  'notice.none': "暂无通知。",
  'notice.unread_count': "{count}条未读",
  'account.done.notices_read': "通知已全部标为已读。",
  'error.appeal_preview_unavailable': "该文件不能在线预览，请下载后查看。",
  'operator.appeal_previews': "在线预览",
  'operator.appeal_preview_of': "第{seq}份材料：{name}",
  'operator.appeal_preview_fallback': "PDF未显示时（部分浏览器不在受限窗口中显示PDF），请",
} as const;

export const noticesEn: Record<keyof typeof noticesZh, string> = {
  'register.signed_in': "Registered. You are signed in.",
  'welcome.step_done': "Done",
  'welcome.realname_go': "Complete real-name verification",
  'welcome.unit_register_go': "Register a unit account",
  'welcome.unit_login': "Sign in as a unit: once you accept a unit's binding, tick \"Sign in as the unit\" on a business system's sign-in page and pick the unit.",
  'notice.sms.binding_invited': "[Unified Identity Platform] {unit} invites you to act as its handler. Sign in to your account to accept or decline.",
  'notice.sms.binding_removed': "[Unified Identity Platform] Your binding with {unit} has been cancelled; you can no longer act for this unit.",
  'notice.binding_invited': "{unit} invites you to act as its handler: accept or decline under \"Unit bindings waiting for you\".",
  'notice.binding_removed': "Your binding with {unit} has been cancelled.",
  'notice.title': "Notices",
  'notice.unread': "Unread",
  'notice.read': "Read",
  'notice.mark_read': "Mark all as read",
  'notice.none': "No notices.",
  'notice.unread_count': "{count} unread",
  'account.done.notices_read': "All notices are marked as read.",
  'error.appeal_preview_unavailable': "This file cannot be previewed; download it to view it.",
  'operator.appeal_previews': "Preview",
  'operator.appeal_preview_of': "Document {seq}: {name}",
  'operator.appeal_preview_fallback': "If the PDF does not show (some browsers do not display PDFs in a restricted frame):",
};
