/** The business catalogue and relying parties used by tests (literal secrets: tests only). */
export const TEST_SECRET = 'test-secret-0123456789abcdefghijklmnopqrstuvwxyz';

export const TEST_BUSINESSES = [
  {
    code: 'continuing_education',
    name: { 'zh-CN': '继续教育', en: 'Continuing education' },
    requiresVerifiedUnit: false,
    portalUrl: 'http://rp.test/ce',
    resource: 'https://ce.rp.test/api',
  },
  {
    code: 'civil_service_exam',
    name: { 'zh-CN': '公务员考录', en: 'Civil-servant recruitment' },
    requiresVerifiedUnit: false,
    portalUrl: 'http://rp.test/cse',
    resource: 'https://cse.rp.test/api',
  },
  {
    code: 'online_service_hall',
    name: { 'zh-CN': '网办平台', en: 'Online service hall' },
    requiresVerifiedUnit: false,
    portalUrl: 'http://rp.test/hall',
    resource: 'https://hall.rp.test/api',
  },
  {
    code: 'social_insurance',
    name: { 'zh-CN': '社会保险', en: 'Social insurance' },
    requiresVerifiedUnit: true,
    portalUrl: 'http://rp.test/si',
    resource: 'https://hall.rp.test/api',
  },
];

export const RP_REDIRECT = 'http://rp.test/cb';

export function testClient(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    client_id: 'test-rp',
    client_secret: TEST_SECRET,
    client_name: { 'zh-CN': '测试业务系统', en: 'Test business system' },
    redirect_uris: [RP_REDIRECT],
    post_logout_redirect_uris: ['http://rp.test/logged-out'],
    scopes: ['openid', 'profile', 'phone', 'offline_access', 'unit', 'biz:continuing_education', 'biz:social_insurance'],
    first_party: true,
    business: 'continuing_education',
    ...overrides,
  };
}

export function testClientsFile(clients: Record<string, unknown>[] = [testClient()]): Record<string, unknown> {
  return { businesses: TEST_BUSINESSES, clients };
}
