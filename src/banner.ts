import type { AppConfig } from './config/env.js';
import type { DemoSummary } from './modules/demo/seed.js';

export interface BannerInput {
  config: Pick<AppConfig, 'issuer' | 'mode' | 'smsGateway' | 'smtp'>;
  demo?: DemoSummary;
  /** Client secrets generated outside production for `env:` references that are unset. */
  generatedSecrets: Record<string, string>;
  /** The demo business systems when `npm run demo` started them; undefined for `npm start`. */
  businessSystems?: { title: string; url: string }[];
}

/**
 * The few lines a newcomer reads after `npm start` (plain text on stderr, so stdout stays one JSON log line per
 * event): where to go, which demo accounts exist and their password, where development SMS and e-mail can be
 * read, how the operator gets past TOTP without a phone, and how to start the demo business systems.
 * Production prints none of it (no demo data, no outbox, no generated secrets exist there).
 */
export function startBanner(input: BannerInput): string {
  const { config, demo } = input;
  const base = config.issuer;
  const lines = [
    '',
    `统一身份认证平台 is ready (${config.mode})`,
    `  portal and sign-in   ${base}/`,
    `  account centre       ${base}/account`,
    `  unit console         ${base}/unit`,
    `  operator console     ${base}/operator`,
    `  OIDC discovery       ${base}/.well-known/openid-configuration`,
  ];
  if (demo) {
    const [first, second, third] = demo.persons;
    lines.push(
      '',
      `demo accounts, all with the password  ${demo.password}`,
      `  persons              ${[first, second].filter(Boolean).join(', ')} (real-name verified)${third ? `, ${third} (not verified)` : ''}`,
      `  unit accounts        ${demo.units.map((unit) => `${unit.loginName} (${unit.name})`).join(', ')}: tab “单位登录”`,
      `  operator             ${demo.operator}: in development the sign-in page shows the current TOTP code`,
      '  acting for a unit    sign in as zhangsan, tick “以单位身份登录”, pick 示例科技有限公司',
    );
  }
  if (config.mode !== 'production' && (!config.smsGateway || !config.smtp)) {
    lines.push('', `SMS and e-mail are not sent in development: read them at ${base}/dev/outbox`);
  }
  if (input.businessSystems) {
    lines.push('', 'demo business systems:');
    for (const system of input.businessSystems) lines.push(`  ${system.title.padEnd(20 - cjkExtra(system.title))} ${system.url}`);
  } else if (config.mode !== 'production') {
    lines.push('', 'demo business systems (继续教育, 公务员考录, 网办平台): stop this and run `npm run demo`');
  }
  const secrets = Object.entries(input.generatedSecrets);
  if (secrets.length > 0) {
    lines.push('', 'client secrets generated for this data directory (set the env: reference in clients.json to choose your own):');
    for (const [clientId, secret] of secrets) lines.push(`  ${clientId.padEnd(20)} ${secret}`);
  }
  lines.push('');
  return lines.join('\n');
}

/** Wide (CJK) characters take two terminal columns: pad them one less each. */
function cjkExtra(text: string): number {
  return [...text].filter((char) => /[\u3000-\u9fff\uff00-\uffef]/.test(char)).length;
}
