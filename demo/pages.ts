import type { IdTokenIdentity } from '@unit-oidc/rp-kit';
import type { DemoSection, DemoSystem } from './systems.js';

/** Server-rendered zh-CN pages of the demo business systems (no script, every value escaped). */

export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (char) => `&#${char.codePointAt(0)};`);
}

const CERT_TYPES: Record<string, string> = {
  uscc: '统一社会信用代码',
  org_code: '组织机构代码',
  business_license: '营业执照注册号',
  public_institution: '事业单位法人证书号',
  other: '其他证件',
};

const ROLES: Record<string, string> = { handler: '经办人员', contact: '常用联系人' };

export interface PageContext {
  system: DemoSystem;
  /** The signed-in person and unit, from the ID token claims. */
  identity?: IdTokenIdentity | undefined;
  csrf?: string | undefined;
  /** The path the page is for (sign-in links return here). */
  path: string;
}

function loginLink(path: string, params: Record<string, string> = {}): string {
  return `/login?${new URLSearchParams({ ...params, return: path }).toString()}`;
}

function identityBar(context: PageContext): string {
  const { identity, csrf, path } = context;
  if (!identity) return '<div class="identity">未登录</div>';
  const person = identity.name
    ? `${escapeHtml(identity.name)}（${escapeHtml(identity.claims.preferred_username ?? identity.subject)}）`
    : escapeHtml(identity.claims.preferred_username ?? identity.subject);
  const unit = identity.unit
    ? `<span class="unit" data-unit-id="${escapeHtml(identity.unit.id)}">代表单位：<strong>${escapeHtml(identity.unit.name)}</strong>
        （${escapeHtml(CERT_TYPES[identity.unit.certType] ?? identity.unit.certType)} ${escapeHtml(identity.unit.certNo)}，
        ${identity.unit.verified ? '已实名认证' : '<span class="warn">未实名认证</span>'}，${escapeHtml(ROLES[identity.unit.role] ?? identity.unit.role)}）</span>`
    : '<span class="unit">个人身份登录</span>';
  return `<div class="identity">
    <span class="person">当前用户：<strong>${person}</strong></span>
    ${unit}
    <span class="actions">
      <a href="${escapeHtml(loginLink(path, { switch: '1' }))}">切换单位</a>
      <form method="post" action="/logout" class="inline"><input type="hidden" name="csrf" value="${escapeHtml(csrf ?? '')}"><button type="submit">退出登录</button></form>
    </span>
  </div>`;
}

function layout(context: PageContext, heading: string, body: string): string {
  const { system } = context;
  const nav =
    system.sections.length > 1
      ? `<nav>${system.sections.map((section) => `<a href="${escapeHtml(section.path)}"${section.path === context.path ? ' aria-current="page"' : ''}>${escapeHtml(section.title)}</a>`).join(' ')}</nav>`
      : '';
  return `<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(heading)} - ${escapeHtml(system.title)}</title>
<link rel="stylesheet" href="/static/demo.css">
</head>
<body class="${escapeHtml(system.clientId)}">
<header>
  <div class="bar">
    <div class="brand"><span class="name">${escapeHtml(system.title)}</span><span class="sub">${escapeHtml(system.description)}</span></div>
    ${nav}
  </div>
  ${identityBar(context)}
</header>
<main>
<h1>${escapeHtml(heading)}</h1>
${body}
</main>
<footer>演示业务系统 · 使用统一身份认证平台登录 · 客户端 ${escapeHtml(system.clientId)}</footer>
</body>
</html>`;
}

export function signedOutPage(context: PageContext, section: DemoSection, ended?: { unitId: string; unitName: string }): string {
  // The provider ended a unit session (e.g. the unit cancelled the binding): the unit is named, and signing in for
  // it again (unit_hint) lets the provider's page say why it is gone; this system itself is not told the reason.
  const endedNotice = ended
    ? `
<div class="notice" id="session-ended">
<p>您代表“${escapeHtml(ended.unitName)}”的登录已结束（在统一身份认证平台退出，或单位的绑定有变化）。重新以该单位登录时，平台会说明原因。</p>
<p><a class="button" id="sign-in-ended-unit" href="${escapeHtml(loginLink(context.path, { as: 'unit', unit_hint: ended.unitId }))}">重新以该单位登录</a></p>
</div>`
    : '';
  return layout(
    context,
    section.title,
    `${endedNotice}
<p id="signed-out">您尚未登录。请使用统一身份认证平台的个人账号登录，并勾选“以单位身份登录”，选择您代表办理业务的单位。</p>
<p><a class="button" id="sign-in" href="${escapeHtml(loginLink(context.path))}">统一身份认证登录</a>
   <a class="button secondary" id="sign-in-unit" href="${escapeHtml(loginLink(context.path, { as: 'unit' }))}">以单位身份登录</a></p>`,
  );
}

export function unitRequiredPage(context: PageContext, section: DemoSection): string {
  return layout(
    context,
    '请以单位身份登录',
    `
<div class="notice" id="unit-required">
<p>您当前以<strong>个人身份</strong>登录。“${escapeHtml(section.title)}”业务须由单位经办人员代表单位办理。</p>
<p>请重新登录并勾选“以单位身份登录”，选择您所代表的单位。</p>
</div>
<p><a class="button" id="sign-in-as-unit" href="${escapeHtml(loginLink(context.path, { as: 'unit' }))}">以单位身份登录</a></p>`,
  );
}

export function forbiddenPage(context: PageContext, section: DemoSection): string {
  const unit = context.identity?.unit;
  const unverified = section.requiresVerifiedUnit && unit && !unit.verified;
  const reason = unverified
    ? `“${escapeHtml(section.title)}”业务仅向已完成实名认证的单位开放，您代表的单位“${escapeHtml(unit.name)}”尚未完成实名认证。请单位持证件到服务窗口领取授权码完成实名认证。`
    : `您代表的单位“${escapeHtml(unit?.name ?? '')}”未授予您“${escapeHtml(section.title)}”业务权限。请联系单位管理员在“子账户信息”中为您授予该业务权限，或切换到其他单位。`;
  return layout(
    context,
    '无业务权限',
    `
<div class="notice error" id="forbidden">
<p><strong>无法办理“${escapeHtml(section.title)}”业务。</strong></p>
<p>${reason}</p>
</div>
<p><a class="button" id="switch-unit" href="${escapeHtml(loginLink(context.path, { switch: '1' }))}">切换单位</a></p>`,
  );
}

export interface ApiResult {
  records: Record<string, string | number>[];
  handler: string;
  unit: { id: string; role: string; verified: boolean };
  scopes: string[];
}

export function businessPage(context: PageContext, section: DemoSection, api: ApiResult, tokenExpiresAt: Date): string {
  const head = section.columns.map(([, title]) => `<th>${escapeHtml(title)}</th>`).join('');
  const rows = api.records.map((record) => `<tr>${section.columns.map(([field]) => `<td>${escapeHtml(record[field] ?? '')}</td>`).join('')}</tr>`).join('\n');
  return layout(
    context,
    section.title,
    `
<section id="business" data-scope="${escapeHtml(section.scope)}">
<h2>${escapeHtml(section.tableTitle)}</h2>
<table><thead><tr>${head}</tr></thead><tbody>
${rows}
</tbody></table>
</section>
<section class="api" id="api-result">
<h2>业务接口调用结果</h2>
<p>本页数据由受保护的接口 <code>${escapeHtml(section.apiPath)}</code> 返回：接口使用 RP 工具包验证 JWT 访问令牌（at+jwt）的签名、签发者、受众和有效期，并检查业务权限。</p>
<dl>
<dt>接口识别的经办人（sub）</dt><dd><code>${escapeHtml(api.handler)}</code></dd>
<dt>接口识别的单位（unit_id）</dt><dd><code id="api-unit">${escapeHtml(api.unit.id)}</code>（${escapeHtml(ROLES[api.unit.role] ?? api.unit.role)}，${api.unit.verified ? '已实名认证' : '未实名认证'}）</dd>
<dt>访问令牌的业务权限（scope）</dt><dd><code>${escapeHtml(api.scopes.join(' '))}</code></dd>
<dt>访问令牌有效期至</dt><dd>${escapeHtml(tokenExpiresAt.toISOString())}</dd>
</dl>
</section>`,
  );
}

export function messagePage(context: PageContext, heading: string, message: string, options: { retry?: boolean } = {}): string {
  return layout(
    context,
    heading,
    `
<div class="notice error" id="message"><p>${escapeHtml(message)}</p></div>
${options.retry === false ? '' : `<p><a class="button" href="${escapeHtml(loginLink(context.path))}">重新登录</a></p>`}`,
  );
}

export const STYLESHEET = `
* { box-sizing: border-box; }
body { margin: 0; font-family: "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif; color: #222; background: #f5f6f8; }
header .bar { background: var(--accent, #1565c0); color: #fff; padding: 14px 28px; display: flex; align-items: center; justify-content: space-between; flex-wrap: wrap; gap: 12px; }
body.ce-demo { --accent: #1565c0; } body.cse-demo { --accent: #b71c1c; } body.hall-demo { --accent: #2e7d32; }
.brand .name { font-size: 22px; font-weight: bold; margin-right: 12px; }
.brand .sub { font-size: 14px; }
nav a { color: #fff; margin-left: 16px; text-decoration: none; }
nav a[aria-current] { border-bottom: 2px solid #fff; }
.identity { background: #fff; border-bottom: 1px solid #ddd; padding: 10px 28px; display: flex; gap: 18px; flex-wrap: wrap; align-items: center; font-size: 14px; }
.identity .actions { margin-left: auto; display: flex; gap: 12px; align-items: center; }
.warn { color: #8a4b00; }
main { max-width: 960px; margin: 24px auto; background: #fff; padding: 24px 32px; border-radius: 6px; box-shadow: 0 1px 3px rgba(0,0,0,.08); }
h1 { margin-top: 0; font-size: 22px; }
h2 { font-size: 17px; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #e0e0e0; padding: 8px 10px; text-align: left; }
th { background: #fafafa; }
.notice { border-left: 4px solid var(--accent, #1565c0); background: #f0f5ff; padding: 10px 16px; }
.notice.error { border-color: #c62828; background: #fff3f3; }
.button, button { display: inline-block; background: var(--accent, #1565c0); color: #fff; border: 0; border-radius: 4px; padding: 8px 18px; text-decoration: none; font-size: 14px; cursor: pointer; }
.button.secondary { background: #fff; color: var(--accent, #1565c0); border: 1px solid var(--accent, #1565c0); }
.identity button { padding: 4px 10px; background: #fff; color: #333; border: 1px solid #bbb; }
form.inline { display: inline; margin: 0; }
dl { display: grid; grid-template-columns: max-content auto; gap: 6px 16px; }
dt { color: #666; } dd { margin: 0; }
code { background: #f3f3f3; padding: 1px 4px; border-radius: 3px; word-break: break-all; }
footer { text-align: center; color: #5a6270; font-size: 12px; margin: 24px 0; }
a { color: var(--accent, #1565c0); }
:focus-visible { outline: 3px solid #1d4ed8; outline-offset: 2px; }
header .bar :focus-visible { outline-color: #fff; }
@media (max-width: 640px) {
  header .bar, .identity { padding: 10px 16px; }
  main { margin: 12px; padding: 16px; }
  main table { display: block; overflow-x: auto; }
  th, td { white-space: nowrap; }
  dl { grid-template-columns: 1fr; gap: 2px; }
  dd { margin-bottom: 8px; overflow-wrap: anywhere; }
}
`;
